//! The load generator: N iBGP client sessions against one reflector, and what they measure.
//!
//! ```text
//!  run() ── spawns ──► client task × N (one TCP session each, from 127.0.x.y)
//!    │                   │ announce own P prefixes, count reflected ones in a bitset
//!    │ Cmd (churn/flap)  │ shared atomics: established, complete, flap counters, bytes
//!    └──── mpsc ────────►│ per-task latency histogram, merged when the task ends
//!  monitor loop (1 ms polls of the atomics) + /proc sampling of the reflector
//! ```
//!
//! Convergence is the first moment every client holds all `(N - 1) * P` reflected routes. Churn toggles
//! (withdraws or re-announces) one prefix at a time at an aggregate rate, round robin over clients; each
//! receiving client records the time from the send to its receipt. Flap closes client 0's session with a
//! Cease, waits until no other client holds its routes, reconnects and waits until all hold them again.

use crate::bits::Bits;
use crate::plan::{PREFIX_LEN, Plan};
use crate::procstat::{self, ProcSample};
use crate::wire::{self, Announce, OpenParams};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

/// What to do once the clients are connected.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Mode {
    /// Measure time to full convergence, then stop.
    Converge,
    /// After convergence, toggle prefixes at `rate` per second (aggregate) for `duration`.
    Churn {
        /// Withdrawals + re-announcements per second across all clients.
        rate: f64,
        /// How long to churn.
        duration: Duration,
    },
    /// After convergence, flap client 0's session `rounds` times.
    Flap {
        /// Number of down/up cycles.
        rounds: usize,
    },
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Converge => "converge",
            Mode::Churn { .. } => "churn",
            Mode::Flap { .. } => "flap",
        }
    }
}

/// Everything one load run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Label of the reflector in reports (`bird`, `rr-daemon`, ...).
    pub label: String,
    /// Address and port the reflector listens on.
    pub target: SocketAddr,
    /// Workload sizes.
    pub plan: Plan,
    /// AS of the clients (iBGP: the reflector's AS too).
    pub asn: u32,
    /// LOCAL_PREF the clients put on their announcements.
    pub local_pref: u32,
    /// Hold time the clients propose.
    pub hold_time: u16,
    /// Advertise ADD-PATH receive.
    pub add_path: bool,
    /// Reflector process to sample in `/proc`.
    pub reflector_pid: Option<u32>,
    /// Give up on convergence (and on each flap step) after this long.
    pub timeout: Duration,
    /// Sessions allowed in connect + OPEN exchange at once.
    pub connect_concurrency: usize,
    /// What to do after convergence.
    pub mode: Mode,
    /// Print established/complete/prefix counts to stderr this often while waiting for convergence.
    pub progress: Option<Duration>,
}

/// Propagation latency figures of a churn run.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    /// Requested aggregate rate (events per second).
    pub rate_requested: f64,
    /// Events actually sent.
    pub events: u64,
    /// Seconds the churn phase lasted.
    pub duration_secs: f64,
    /// Events per second achieved.
    pub rate_achieved: f64,
    /// Latency samples recorded (one per event per other client).
    pub receipts: u64,
    /// Samples expected: `events * (N - 1)`.
    pub expected_receipts: u64,
    /// Median propagation latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile, milliseconds.
    pub p999_ms: f64,
    /// Largest latency, milliseconds.
    pub max_ms: f64,
    /// Reflector CPU seconds spent during the churn phase.
    pub reflector_cpu_secs: Option<f64>,
}

/// One flap cycle of client 0.
#[derive(Debug, Clone, Serialize)]
pub struct FlapRound {
    /// From the Cease until no other client holds client 0's routes.
    pub withdraw_secs: f64,
    /// From the reconnect request until client 0's session is up again.
    pub reconnect_secs: f64,
    /// From session up until every other client holds client 0's routes again.
    pub readvertise_secs: f64,
}

/// Result of one load run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Reflector label.
    pub reflector: String,
    /// Mode name.
    pub mode: String,
    /// Number of clients.
    pub clients: usize,
    /// Prefixes per client.
    pub prefixes: usize,
    /// Seconds from start until every session was established.
    pub all_established_secs: Option<f64>,
    /// Seconds from start until every client held all `(N-1)*P` routes.
    pub converged_secs: Option<f64>,
    /// Reflector CPU seconds from start to convergence.
    pub reflector_cpu_secs: Option<f64>,
    /// Reflector CPU seconds over the whole run (from start to the end).
    pub reflector_cpu_total_secs: Option<f64>,
    /// Reflector peak RSS (VmHWM), MiB.
    pub reflector_peak_rss_mib: Option<f64>,
    /// CPU seconds of the load generator itself over the run.
    pub generator_cpu_secs: Option<f64>,
    /// Machine 1-minute load average at the start and at the end (other work disturbs timings).
    pub loadavg: (Option<f64>, Option<f64>),
    /// Bytes the clients sent.
    pub bytes_sent: u64,
    /// Bytes the clients received.
    pub bytes_received: u64,
    /// UPDATE messages received.
    pub updates_received: u64,
    /// NLRI prefixes received (announcements, duplicates included).
    pub prefixes_received: u64,
    /// Withdrawn prefixes received.
    pub withdrawals_received: u64,
    /// Announcements whose NEXT_HOP was not the originating client (reflection must keep it).
    pub bad_next_hop: u64,
    /// Announcements whose LOCAL_PREF was missing or changed.
    pub bad_local_pref: u64,
    /// Prefixes outside the numbering plan.
    pub unknown_prefixes: u64,
    /// A client's own prefixes reflected back to it (RFC 4456 forbids it).
    pub own_prefixes: u64,
    /// Sessions lost or refused that were not asked for.
    pub session_errors: u64,
    /// The largest interval between two reads of data from the reflector on one established session, before
    /// convergence, milliseconds: how long the reflector left a session without a message (UPDATE or
    /// KEEPALIVE) while it was busy converging. Keepalives starved behind fan-out work show here long
    /// before a hold timer expires. (A busy load generator reading late adds to it too.)
    pub max_receive_gap_ms: Option<f64>,
    /// Churn figures, in churn mode.
    pub churn: Option<ChurnReport>,
    /// Flap rounds, in flap mode.
    pub flap: Vec<FlapRound>,
    /// What went wrong (time-outs, first session errors).
    pub errors: Vec<String>,
}

impl Report {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let f = |v: Option<f64>, unit: &str| v.map_or("n/a".to_string(), |v| format!("{v:.3}{unit}"));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "[{}] {} clients x {} prefixes, mode {}",
            self.reflector, self.clients, self.prefixes, self.mode
        );
        let _ = writeln!(
            s,
            "  established {}  converged {}  reflector CPU {} (total {})  peak RSS {}",
            f(self.all_established_secs, " s"),
            f(self.converged_secs, " s"),
            f(self.reflector_cpu_secs, " s"),
            f(self.reflector_cpu_total_secs, " s"),
            f(self.reflector_peak_rss_mib, " MiB"),
        );
        let _ = writeln!(
            s,
            "  load generator CPU {}, machine load average {} -> {}",
            f(self.generator_cpu_secs, " s"),
            f(self.loadavg.0, ""),
            f(self.loadavg.1, ""),
        );
        let _ = writeln!(
            s,
            "  clients sent {} B, received {} B in {} UPDATEs ({} prefixes, {} withdrawals)",
            self.bytes_sent,
            self.bytes_received,
            self.updates_received,
            self.prefixes_received,
            self.withdrawals_received
        );
        let _ = writeln!(
            s,
            "  largest gap between two reads from the reflector on one session while converging: {}",
            f(self.max_receive_gap_ms, " ms"),
        );
        let _ = writeln!(
            s,
            "  checks: bad next hop {}, bad LOCAL_PREF {}, unknown {}, own reflected {}, session errors {}",
            self.bad_next_hop,
            self.bad_local_pref,
            self.unknown_prefixes,
            self.own_prefixes,
            self.session_errors
        );
        if let Some(c) = &self.churn {
            let _ = writeln!(
                s,
                "  churn: {} events in {:.1} s ({:.0}/s of {:.0}/s), receipts {}/{}, latency p50 {:.2} ms p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}, reflector CPU {}",
                c.events,
                c.duration_secs,
                c.rate_achieved,
                c.rate_requested,
                c.receipts,
                c.expected_receipts,
                c.p50_ms,
                c.p90_ms,
                c.p99_ms,
                c.p999_ms,
                c.max_ms,
                f(c.reflector_cpu_secs, " s")
            );
        }
        for (i, r) in self.flap.iter().enumerate() {
            let _ = writeln!(
                s,
                "  flap {i}: withdrawn everywhere after {:.3} s, reconnected after {:.3} s, re-advertised everywhere {:.3} s after up",
                r.withdraw_secs, r.reconnect_secs, r.readvertise_secs
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        s
    }
}

/// Commands the driver sends to one client task.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    /// Withdraw prefix `j` if announced, else announce it.
    Toggle(usize),
    /// Close the session with a Cease and stay down.
    Down,
    /// Reconnect.
    Up,
}

/// State shared by the driver and all client tasks.
struct Shared {
    cfg: LoadConfig,
    start: Instant,
    established: AtomicUsize,
    complete: AtomicUsize,
    flap_full: AtomicUsize,
    flap_empty: AtomicUsize,
    flap_up: AtomicBool,
    /// Send time (ns since start) of the last churn event per prefix; empty unless churning.
    sent_ns: Vec<AtomicU64>,
    /// Cleared at the end of the measurement: the withdrawals caused by the teardown (clients
    /// closing their sessions) are not propagation samples.
    recording: AtomicBool,
    /// Propagation latencies, microseconds: client `i` records into shard `i % HIST_SHARDS`, once per
    /// read. (A histogram per client, 160 KiB each, made every sample a cache miss at 3000 clients: a
    /// fifth of the generator's time under churn.)
    hists: Vec<Mutex<Histogram<u64>>>,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    updates: AtomicU64,
    nlri: AtomicU64,
    withdrawn: AtomicU64,
    bad_next_hop: AtomicU64,
    bad_local_pref: AtomicU64,
    unknown: AtomicU64,
    own: AtomicU64,
    session_errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    /// Set until every client converged: receive gaps are recorded meanwhile.
    converging: AtomicBool,
    /// Largest receive gap on one session while converging, microseconds.
    max_gap_us: AtomicU64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn note_error(&self, e: String) {
        self.session_errors.fetch_add(1, Relaxed);
        if let Ok(mut v) = self.first_errors.lock()
            && v.len() < 5
        {
            v.push(e);
        }
    }
}

/// Latency histograms shared by the clients (few enough to stay in cache, enough that the generator's
/// threads seldom want the same one at once).
const HIST_SHARDS: usize = 16;

/// The index of the client that flaps in flap mode.
const FLAPPER: usize = 0;

/// Routes one client holds.
struct Held {
    me: usize,
    bits: Bits,
    count: usize,
    flap_count: usize,
    /// Latencies (microseconds) of the receipts of the current read, recorded into the client's shard
    /// of [`Shared::hists`] once the read is handled.
    samples: Vec<u64>,
}

impl Held {
    #[inline(always)]
    fn announce(&mut self, sh: &Shared, g: usize, origin: usize, now_ns: u64) {
        if !self.bits.insert(g) {
            return;
        }
        let plan = &sh.cfg.plan;
        self.count += 1;
        if self.count == plan.expected_per_client() {
            sh.complete.fetch_add(1, Relaxed);
        }
        if self.me != FLAPPER && origin == FLAPPER {
            self.flap_count += 1;
            if self.flap_count == 1 {
                sh.flap_empty.fetch_sub(1, Relaxed);
            }
            if self.flap_count == plan.prefixes {
                sh.flap_full.fetch_add(1, Relaxed);
            }
        }
        self.latency(sh, g, now_ns);
    }

    fn withdraw(&mut self, sh: &Shared, g: usize, origin: usize, now_ns: u64) {
        if !self.bits.remove(g) {
            return;
        }
        let plan = &sh.cfg.plan;
        if self.count == plan.expected_per_client() {
            sh.complete.fetch_sub(1, Relaxed);
        }
        self.count -= 1;
        if self.me != FLAPPER && origin == FLAPPER {
            if self.flap_count == plan.prefixes {
                sh.flap_full.fetch_sub(1, Relaxed);
            }
            self.flap_count -= 1;
            if self.flap_count == 0 {
                sh.flap_empty.fetch_add(1, Relaxed);
            }
        }
        self.latency(sh, g, now_ns);
    }

    #[inline(always)]
    fn latency(&mut self, sh: &Shared, g: usize, now_ns: u64) {
        if sh.sent_ns.is_empty() || !sh.recording.load(Relaxed) {
            return;
        }
        if let Some(t) = sh.sent_ns.get(g) {
            let sent = t.load(Relaxed);
            if sent != 0 {
                self.samples.push(now_ns.saturating_sub(sent) / 1000);
            }
        }
    }

    /// The session went down: everything learned from it is gone.
    fn reset(&mut self, sh: &Shared) {
        let plan = &sh.cfg.plan;
        if self.count == plan.expected_per_client() {
            sh.complete.fetch_sub(1, Relaxed);
        }
        if self.me != FLAPPER {
            if self.flap_count == plan.prefixes {
                sh.flap_full.fetch_sub(1, Relaxed);
            }
            if self.flap_count > 0 {
                sh.flap_empty.fetch_add(1, Relaxed);
            }
        }
        self.bits.clear();
        self.count = 0;
        self.flap_count = 0;
    }
}

fn new_hist() -> Histogram<u64> {
    // 1 us .. 10 min, 3 significant digits: the bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

/// A client's counts since they were last added to the shared totals. Adding them once per read rather
/// than once per UPDATE: under churn to 3000 clients the generator reads 3 M routes a second, and per-UPDATE
/// atomic additions on counters shared by its threads (and an `Arc` count) kept one cache line moving
/// between the cores, so the generator, not the reflector, delayed the receipts it timed.
#[derive(Default)]
struct Tally {
    updates: u64,
    nlri: u64,
    withdrawn: u64,
    unknown: u64,
    own: u64,
    bad_next_hop: u64,
    bad_local_pref: u64,
}

impl Tally {
    /// Adds the counts to the shared totals and starts again from zero.
    fn publish(&mut self, sh: &Shared) {
        let t = std::mem::take(self);
        for (c, v) in [
            (&sh.updates, t.updates),
            (&sh.nlri, t.nlri),
            (&sh.withdrawn, t.withdrawn),
            (&sh.unknown, t.unknown),
            (&sh.own, t.own),
            (&sh.bad_next_hop, t.bad_next_hop),
            (&sh.bad_local_pref, t.bad_local_pref),
        ] {
            if v > 0 {
                c.fetch_add(v, Relaxed);
            }
        }
    }
}

/// Why a session loop ended.
enum SessionEnd {
    Stop,
    Down,
    Lost(String),
}

struct Client {
    i: usize,
    sh: Arc<Shared>,
    held: Held,
    /// Counts of this session not yet added to [`Shared`]'s totals.
    tally: Tally,
    /// Own prefixes currently announced (churn toggles them).
    mine: Bits,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    stop: watch::Receiver<bool>,
    sem: Arc<Semaphore>,
}

async fn connect(sh: &Shared, i: usize) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(sh.cfg.plan.client_addr(i)), 0))?;
    let s = sock.connect(sh.cfg.target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

impl Client {
    async fn write(&self, s: &mut TcpStream, buf: &[u8]) -> std::io::Result<()> {
        s.write_all(buf).await?;
        self.sh.bytes_sent.fetch_add(buf.len() as u64, Relaxed);
        Ok(())
    }

    /// Connect, exchange OPENs and KEEPALIVEs; leftover bytes stay in `rbuf`.
    async fn establish(&self, rbuf: &mut BytesMut) -> Result<(TcpStream, wire::PeerOpen), String> {
        let _permit = self.sem.acquire().await.map_err(|e| e.to_string())?;
        let mut s = connect(&self.sh, self.i)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut out = BytesMut::new();
        let cfg = &self.sh.cfg;
        wire::put_open(
            &mut out,
            &OpenParams {
                asn: cfg.asn,
                hold_time: cfg.hold_time,
                router_id: cfg.plan.client_addr(self.i),
                add_path_receive: cfg.add_path,
            },
        );
        self.write(&mut s, &out)
            .await
            .map_err(|e| format!("send OPEN: {e}"))?;
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
                        self.write(&mut s, &out)
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
            self.sh.bytes_received.fetch_add(n as u64, Relaxed);
        }
    }

    /// Handles one message read at `now` (nanoseconds since the start).
    fn on_message(&mut self, msg: &[u8], add_path: bool, now: u64) -> Result<(), String> {
        match msg[18] {
            wire::kind::UPDATE => {}
            wire::kind::KEEPALIVE | wire::kind::ROUTE_REFRESH => return Ok(()),
            wire::kind::NOTIFICATION => {
                return Err(format!("NOTIFICATION {:?}", &msg[19..msg.len().min(21)]));
            }
            k => return Err(format!("unexpected message type {k}")),
        }
        let sh: &Shared = &self.sh;
        let plan = sh.cfg.plan;
        self.tally.updates += 1;
        let (mut nlri, mut wd, mut unknown, mut own, mut bad_nh, mut bad_lp) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let held = &mut self.held;
        let me = self.i;
        let lp = sh.cfg.local_pref;
        // The origin of the last prefix's range (global indices lo..hi) and its next hop: consecutive
        // prefixes nearly always share one, and this keeps two divisions off the per-prefix path.
        let (mut lo, mut hi, mut origin, mut origin_nh) = (1usize, 0usize, 0usize, 0u32);
        wire::scan_update(msg, add_path, |announce, addr, len, attrs| {
            if announce {
                nlri += 1;
            } else {
                wd += 1;
            }
            let Some(g) = plan.index_of(addr, len) else {
                unknown += 1;
                return;
            };
            if g < lo || g >= hi {
                origin = plan.origin_of(g);
                lo = origin * plan.prefixes;
                hi = lo + plan.prefixes;
                origin_nh = u32::from(plan.next_hop(origin));
            }
            if origin == me {
                own += 1;
            } else if announce {
                if attrs.next_hop != Some(origin_nh) {
                    bad_nh += 1;
                }
                if attrs.local_pref != Some(lp) {
                    bad_lp += 1;
                }
                held.announce(sh, g, origin, now);
            } else {
                held.withdraw(sh, g, origin, now);
            }
        })?;
        let t = &mut self.tally;
        t.nlri += nlri;
        t.withdrawn += wd;
        t.unknown += unknown;
        t.own += own;
        t.bad_next_hop += bad_nh;
        t.bad_local_pref += bad_lp;
        Ok(())
    }

    async fn announce_mine(&self, s: &mut TcpStream) -> std::io::Result<()> {
        let plan = self.sh.cfg.plan;
        let prefixes: Vec<u32> = (0..plan.prefixes)
            .filter(|&j| self.mine.get(j))
            .map(|j| plan.prefix_addr(plan.global(self.i, j)))
            .collect();
        let mut out = BytesMut::new();
        wire::put_announcements(&mut out, &self.announce_attrs(), PREFIX_LEN, &prefixes);
        self.write(s, &out).await
    }

    fn announce_attrs(&self) -> Announce {
        Announce {
            next_hop: self.sh.cfg.plan.next_hop(self.i),
            local_pref: self.sh.cfg.local_pref,
        }
    }

    async fn session(&mut self, mut s: TcpStream, peer: wire::PeerOpen, mut rbuf: BytesMut) -> SessionEnd {
        let add_path = self.sh.cfg.add_path && peer.add_path_send;
        let hold = peer.hold_time.min(self.sh.cfg.hold_time);
        let ka_every = if hold == 0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs((hold / 3).max(1) as u64)
        };
        let mut ka = tokio::time::interval(ka_every);
        ka.tick().await;
        let mut last_read: Option<Instant> = None;
        // When the bytes being handled were read: one clock read per read, not per message.
        let mut read_ns = self.sh.now_ns();
        if let Err(e) = self.announce_mine(&mut s).await {
            return SessionEnd::Lost(format!("announce: {e}"));
        }
        loop {
            while let Ok(Some(n)) = wire::frame_len(&rbuf) {
                let msg = rbuf.split_to(n);
                if let Err(e) = self.on_message(&msg, add_path, read_ns) {
                    self.settle();
                    return SessionEnd::Lost(e);
                }
            }
            self.settle();
            if wire::frame_len(&rbuf).is_err() {
                return SessionEnd::Lost("bad framing".into());
            }
            if rbuf.capacity() - rbuf.len() < 4096 {
                rbuf.reserve(65536);
            }
            tokio::select! {
                r = s.read_buf(&mut rbuf) => match r {
                    Ok(0) => return SessionEnd::Lost("closed by reflector".into()),
                    Ok(n) => {
                        self.sh.bytes_received.fetch_add(n as u64, Relaxed);
                        read_ns = self.sh.now_ns();
                        let now = Instant::now();
                        if let Some(t) = last_read.replace(now)
                            && self.sh.converging.load(Relaxed)
                        {
                            let gap = u64::try_from((now - t).as_micros()).unwrap_or(u64::MAX);
                            self.sh.max_gap_us.fetch_max(gap, Relaxed);
                        }
                    }
                    Err(e) => return SessionEnd::Lost(format!("read: {e}")),
                },
                c = self.cmds.recv() => match c {
                    Some(Cmd::Toggle(j)) => {
                        if let Err(e) = self.toggle(&mut s, j).await {
                            return SessionEnd::Lost(format!("churn send: {e}"));
                        }
                    }
                    Some(Cmd::Down) => {
                        let mut out = BytesMut::new();
                        wire::put_cease(&mut out);
                        let _ = self.write(&mut s, &out).await;
                        let _ = s.shutdown().await;
                        return SessionEnd::Down;
                    }
                    Some(Cmd::Up) => {}
                    None => return SessionEnd::Stop,
                },
                _ = ka.tick() => {
                    let mut out = BytesMut::new();
                    wire::put_keepalive(&mut out);
                    if let Err(e) = self.write(&mut s, &out).await {
                        return SessionEnd::Lost(format!("keepalive: {e}"));
                    }
                }
                _ = self.stop.changed() => return SessionEnd::Stop,
            }
        }
    }

    async fn toggle(&mut self, s: &mut TcpStream, j: usize) -> std::io::Result<()> {
        let plan = self.sh.cfg.plan;
        let g = plan.global(self.i, j);
        let addr = [plan.prefix_addr(g)];
        let mut out = BytesMut::new();
        if self.mine.remove(j) {
            wire::put_withdrawals(&mut out, PREFIX_LEN, &addr);
        } else {
            self.mine.insert(j);
            wire::put_announcements(&mut out, &self.announce_attrs(), PREFIX_LEN, &addr);
        }
        if let Some(t) = self.sh.sent_ns.get(g) {
            t.store(self.sh.now_ns().max(1), Relaxed);
        }
        self.write(s, &out).await
    }

    /// Adds the counts and latency samples of what was read so far to the shared totals.
    fn settle(&mut self) {
        self.tally.publish(&self.sh);
        if self.held.samples.is_empty() {
            return;
        }
        if let Ok(mut h) = self.sh.hists[self.i % HIST_SHARDS].lock() {
            let high = h.high();
            for us in self.held.samples.drain(..) {
                let _ = h.record(us.clamp(1, high));
            }
        }
        self.held.samples.clear();
    }

    async fn run(mut self) {
        let mut down = false;
        let mut stop = self.stop.clone();
        loop {
            if *self.stop.borrow() {
                break;
            }
            if down {
                tokio::select! {
                    c = self.cmds.recv() => match c {
                        Some(Cmd::Up) => down = false,
                        Some(_) => {}
                        None => break,
                    },
                    _ = self.stop.changed() => break,
                }
                continue;
            }
            let mut rbuf = BytesMut::with_capacity(65536);
            let (s, peer) = tokio::select! {
                r = self.establish(&mut rbuf) => match r {
                    Ok(x) => x,
                    Err(e) => {
                        self.sh.note_error(format!("client {}: {e}", self.i));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            self.sh.established.fetch_add(1, Relaxed);
            if self.i == FLAPPER {
                self.sh.flap_up.store(true, Relaxed);
            }
            let end = self.session(s, peer, rbuf).await;
            self.sh.established.fetch_sub(1, Relaxed);
            if self.i == FLAPPER {
                self.sh.flap_up.store(false, Relaxed);
            }
            self.held.reset(&self.sh);
            match end {
                SessionEnd::Stop => break,
                SessionEnd::Down => down = true,
                SessionEnd::Lost(e) => {
                    self.sh.note_error(format!("client {}: {e}", self.i));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Polls `cond` every millisecond until it holds or `timeout` passes; returns the time it took.
async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if cond() {
            return Some(t.elapsed());
        }
        if t.elapsed() > timeout {
            return None;
        }
        tick.tick().await;
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Runs one load test against a reflector that is already listening on `cfg.target`.
pub async fn run(cfg: LoadConfig) -> Report {
    let plan = cfg.plan;
    let n = plan.clients;
    let churning = matches!(cfg.mode, Mode::Churn { .. });
    let sh = Arc::new(Shared {
        start: Instant::now(),
        established: AtomicUsize::new(0),
        complete: AtomicUsize::new(0),
        flap_full: AtomicUsize::new(0),
        flap_empty: AtomicUsize::new(n - 1),
        flap_up: AtomicBool::new(false),
        sent_ns: if churning {
            (0..plan.total()).map(|_| AtomicU64::new(0)).collect()
        } else {
            Vec::new()
        },
        recording: AtomicBool::new(true),
        hists: (0..HIST_SHARDS).map(|_| Mutex::new(new_hist())).collect(),
        bytes_sent: AtomicU64::new(0),
        bytes_received: AtomicU64::new(0),
        updates: AtomicU64::new(0),
        nlri: AtomicU64::new(0),
        withdrawn: AtomicU64::new(0),
        bad_next_hop: AtomicU64::new(0),
        bad_local_pref: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        own: AtomicU64::new(0),
        session_errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        converging: AtomicBool::new(true),
        max_gap_us: AtomicU64::new(0),
        cfg: cfg.clone(),
    });
    let pid = cfg.reflector_pid;
    let sample = move || pid.and_then(procstat::sample);
    let s0 = sample();
    let g0 = procstat::sample(std::process::id());
    let load0 = loadavg();
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let mut senders = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let mut mine = Bits::new(plan.prefixes);
        for j in 0..plan.prefixes {
            mine.insert(j);
        }
        let c = Client {
            i,
            sh: Arc::clone(&sh),
            tally: Tally::default(),
            held: Held {
                me: i,
                bits: Bits::new(plan.total()),
                count: 0,
                flap_count: 0,
                samples: Vec::new(),
            },
            mine,
            cmds: rx,
            stop: stop_rx.clone(),
            sem: Arc::clone(&sem),
        };
        tasks.push(tokio::spawn(c.run()));
    }
    let mut errors = Vec::new();
    let mut all_established = None;
    let mut last_progress = Instant::now();
    let converged = wait_for(cfg.timeout, || {
        if all_established.is_none() && sh.established.load(Relaxed) == n {
            all_established = Some(sh.start.elapsed());
        }
        if let Some(every) = cfg.progress
            && last_progress.elapsed() >= every
        {
            last_progress = Instant::now();
            eprintln!(
                "  {:>8.3} s: established {}, complete {}, prefixes received {}, updates {}",
                sh.start.elapsed().as_secs_f64(),
                sh.established.load(Relaxed),
                sh.complete.load(Relaxed),
                sh.nlri.load(Relaxed),
                sh.updates.load(Relaxed)
            );
        }
        sh.complete.load(Relaxed) == n
    })
    .await
    .map(|_| sh.start.elapsed());
    sh.converging.store(false, Relaxed);
    let s_conv = sample();
    if converged.is_none() {
        errors.push(format!(
            "not converged after {:?}: {} of {} clients complete, {} established",
            cfg.timeout,
            sh.complete.load(Relaxed),
            n,
            sh.established.load(Relaxed)
        ));
    }
    let mut churn = None;
    let mut flap = Vec::new();
    if converged.is_some() {
        match cfg.mode {
            Mode::Converge => {}
            Mode::Churn { rate, duration } => {
                let before = sample();
                let t = Instant::now();
                let mut sent = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while t.elapsed() < duration {
                    tick.tick().await;
                    let due = (t.elapsed().as_secs_f64() * rate) as u64;
                    while sent < due {
                        let c = (sent % n as u64) as usize;
                        let j = ((sent / n as u64) % plan.prefixes as u64) as usize;
                        let _ = senders[c].send(Cmd::Toggle(j));
                        sent += 1;
                    }
                }
                let secs = t.elapsed().as_secs_f64();
                // Let the last events propagate before stopping.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let after = sample();
                churn = Some(ChurnReport {
                    rate_requested: rate,
                    events: sent,
                    duration_secs: secs,
                    rate_achieved: sent as f64 / secs,
                    receipts: 0,
                    expected_receipts: sent * (n as u64 - 1),
                    p50_ms: 0.0,
                    p90_ms: 0.0,
                    p99_ms: 0.0,
                    p999_ms: 0.0,
                    max_ms: 0.0,
                    reflector_cpu_secs: before.zip(after).map(|(a, b)| b.cpu_secs - a.cpu_secs),
                });
            }
            Mode::Flap { rounds } => {
                for r in 0..rounds {
                    let _ = senders[FLAPPER].send(Cmd::Down);
                    let Some(wd) = wait_for(cfg.timeout, || sh.flap_empty.load(Relaxed) == n - 1).await
                    else {
                        errors.push(format!("flap {r}: withdrawal did not reach every client"));
                        break;
                    };
                    let _ = senders[FLAPPER].send(Cmd::Up);
                    let Some(up) = wait_for(cfg.timeout, || sh.flap_up.load(Relaxed)).await else {
                        errors.push(format!("flap {r}: client {FLAPPER} did not reconnect"));
                        break;
                    };
                    let Some(re) = wait_for(cfg.timeout, || sh.flap_full.load(Relaxed) == n - 1).await else {
                        errors.push(format!("flap {r}: re-advertisement did not reach every client"));
                        break;
                    };
                    flap.push(FlapRound {
                        withdraw_secs: wd.as_secs_f64(),
                        reconnect_secs: up.as_secs_f64(),
                        readvertise_secs: re.as_secs_f64(),
                    });
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    sh.recording.store(false, Relaxed);
    let s_end = sample();
    let g_end = procstat::sample(std::process::id());
    // Traffic counters as of the end of the measurement: the teardown below (each client closing its
    // session makes the reflector withdraw its routes from the others) is not part of it.
    let traffic = [
        &sh.bytes_sent,
        &sh.bytes_received,
        &sh.updates,
        &sh.nlri,
        &sh.withdrawn,
    ]
    .map(|c| c.load(Relaxed));
    let _ = stop_tx.send(true);
    drop(senders);
    for t in tasks {
        let _ = t.await;
    }
    let mut hist = new_hist();
    for h in &sh.hists {
        if let Ok(h) = h.lock() {
            let _ = hist.add(&*h);
        }
    }
    if let Some(c) = churn.as_mut() {
        c.receipts = hist.len();
        c.p50_ms = ms(hist.value_at_quantile(0.5));
        c.p90_ms = ms(hist.value_at_quantile(0.9));
        c.p99_ms = ms(hist.value_at_quantile(0.99));
        c.p999_ms = ms(hist.value_at_quantile(0.999));
        c.max_ms = ms(hist.max());
    }
    if let Ok(v) = sh.first_errors.lock() {
        errors.extend(v.iter().cloned());
    }
    let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| a.zip(b).map(|(a, b)| b.cpu_secs - a.cpu_secs);
    Report {
        reflector: cfg.label.clone(),
        mode: cfg.mode.name().into(),
        clients: n,
        prefixes: plan.prefixes,
        all_established_secs: all_established.map(|d| d.as_secs_f64()),
        converged_secs: converged.map(|d| d.as_secs_f64()),
        reflector_cpu_secs: converged.and(cpu(s0, s_conv)),
        reflector_cpu_total_secs: cpu(s0, s_end),
        reflector_peak_rss_mib: s_end.or(s_conv).map(|s| s.peak_rss_kib as f64 / 1024.0),
        generator_cpu_secs: cpu(g0, g_end),
        loadavg: (load0, loadavg()),
        bytes_sent: traffic[0],
        bytes_received: traffic[1],
        updates_received: traffic[2],
        prefixes_received: traffic[3],
        withdrawals_received: traffic[4],
        bad_next_hop: sh.bad_next_hop.load(Relaxed),
        bad_local_pref: sh.bad_local_pref.load(Relaxed),
        unknown_prefixes: sh.unknown.load(Relaxed),
        own_prefixes: sh.own.load(Relaxed),
        session_errors: sh.session_errors.load(Relaxed),
        max_receive_gap_ms: Some(ms(sh.max_gap_us.load(Relaxed))),
        churn,
        flap,
        errors,
    }
}

/// Raises the soft open-files limit to the hard limit (each client session is one descriptor, and the
/// reflector started from here inherits the limit).
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Sets this process's nice value (before the runtime's threads exist, so they inherit it) by running
/// `renice`; failures are reported on stderr and otherwise ignored.
pub fn renice_self(n: i32) {
    let st = std::process::Command::new("renice")
        .arg("-n")
        .arg(n.to_string())
        .arg("-p")
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        eprintln!("renice -n {n} failed: {st:?}");
    }
}

/// Restricts every thread of process `pid` (and the threads it starts later) to the CPUs in `cpus` (a
/// `taskset` list such as `1` or `0,2-3`), with util-linux's `taskset`.
pub fn pin(pid: u32, cpus: &str) -> Result<(), String> {
    let st = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus} {pid}: {st}"))
    }
}

/// The 1-minute load average of the machine, from `/proc/loadavg`.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
