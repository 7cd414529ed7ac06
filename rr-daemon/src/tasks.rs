//! The daemon's tasks and the channels between them.
//!
//! ```text
//!  datastore backend ──watch stream──► snapshot::follow ──watch<Arc<Snapshot>>──► reconcile::run
//!                                                                                     │ Desired (peers,
//!                                                                                     │ identity, port)
//!   listener (IP:port, IP6:port) ── Incoming{stream} ──┐                              ▼
//!   connect task (one per attempt) ─ Connected/Failed ─┤        ┌──────────────────────────────────┐
//!   session reader (one per conn) ── Frame / Message / ├─mpsc──►│ engine task: owns rr_core::Engine │
//!                     DecodeError / Disconnected       │ (1024) │  sleep_until(poll_timeout)        │
//!   control API / metrics ── Control{oneshot} ─────────┤        │  → handle_timeout                 │
//!   BMP collector / BGP4MP log ── Monitor{Attach,Page} ┘        │  drains poll_output():            │
//!   signal handler ── Shutdown{mode} ──────────────────────────►│                                   │
//!                                                               └──────────────────────────────────┘
//!                         Send{bytes} (shared Bytes, bounded mpsc per connection)  │   Connect → spawn connect
//!                                                                                  ▼   Close   → writer ends
//!                                                                    session writer (one per conn) ──► TCP
//!   engine task ── MonItem (Peer Up/Down, UPDATE frames, table pages; bounded mpsc per sink, try_send) ──►
//!                  bmp::run (one per --bmp-collector) ──► TCP;  mrt_updates::run ──► files
//! ```
//!
//! - Session readers frame the stream with [`bgp_wire::frame_len`] and decode each frame once, in
//!   parallel, with the connection's negotiated [`bgp_wire::DecodeCtx`] (a shared `Arc`), which the engine
//!   task hands them on [`rr_core::Output::Established`]; the engine gets the message with its RFC 7606
//!   outcome ([`rr_core::Received`]). Until then they pass whole frames, and the engine decodes them with
//!   the context it holds (so a frame never meets the wrong context).
//! - Writers take shared `Bytes` from a bounded queue: one encoding of an update group is written to every
//!   member. A peer whose queue overflows is dropped (its routes are kept by the others until it returns)
//!   rather than letting it block the engine or grow memory without bound.
//! - Flow control: a member whose queue passes `--write-queue-high` bytes, or that has anything queued while
//!   the process's queues together pass `--output-budget`, leaves its group's shared stream
//!   ([`Engine::set_congested`]). Members catching up (joining, or back after falling behind) are pulled one
//!   message at a time ([`Engine::poll_catch_up`]) only while the budget has room, at most
//!   [`CATCH_UP_PER_PASS`] messages per pass of the engine loop, so that session traffic (KEEPALIVEs, timers,
//!   received messages) is never queued behind a whole catch-up.
//! - The engine task is the only owner of the RIB: no locks on the hot path.
//! - Batching: session traffic (OPEN, KEEPALIVE, NOTIFICATION) is written as soon as the engine queues it
//!   ([`Engine::poll_queued`]); route changes are flushed ([`Engine::flush`]) at once after a quiet period and
//!   then at most once per `--batch-interval-ms`, so under churn each peer gets a few larger writes instead of
//!   one per change. A writer sends whatever is queued for its peer in one vectored write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bgp_wire::notification::{cease, code};
use bgp_wire::{
    DecodeCtx, EncodeCtx, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Message, Notification, Treatment,
};
use bytes::{Bytes, BytesMut};
use rr_core::{ConnId, Engine, Output, PeerId, Received};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::ShutdownMode;
use crate::metrics::{Dir, Metrics, WireCounts};
use crate::reconcile::{Desired, DisabledPeer, EngineIdentity, PeerSpec};
use crate::sockopt;

mod control;
pub(crate) use control::rfc3339;
mod converge;
mod loglimit;
pub(crate) mod monitor;
pub(crate) mod rib_dump;

use loglimit::{LogLimit, Repeats};

/// Messages queued per connection before the peer counts as stuck and is dropped (last resort).
const SEND_QUEUE: usize = 65536;
/// Flow control: above `--write-queue-high` bytes queued for a connection the engine is told the member is
/// congested ([`Engine::set_congested`]) and stops feeding it the group's stream; once the queue has drained
/// below an eighth of that, the member catches up from the group's Adj-RIB-Out.
const LOW_WATERMARK_DIVISOR: usize = 8;
/// Catch-up messages sent per pass of the engine loop at most; then pending events and timers are served
/// before the next pass.
const CATCH_UP_PER_PASS: usize = 4096;
/// Read buffer growth step of a session reader. Small, because every idle session keeps one buffer (at
/// thousands of sessions a 64 KiB buffer each would be most of the daemon's memory); a larger message
/// simply grows it.
const READ_CHUNK: usize = 16 * 1024;
/// Outgoing connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Outgoing connection attempts in flight at once; the rest wait in order. At start-up with thousands of
/// configured peers, every one is attempted at once: unbounded, that is thousands of sockets (file
/// descriptors) and tasks at the same moment, and the memory they took stays with the process.
const MAX_CONNECTS_IN_FLIGHT: usize = 512;
/// Granularity of the engine's timers here. Finding the engine's next deadline and firing due timers each
/// scan every peer, so with thousands of configured peers they run at most once per this interval: while
/// events keep arriving (connection attempts failing, messages) the next deadline is looked up again only
/// after this much time, and due timers are fired together. Timers fire up to this much late; BGP's timers
/// are whole seconds.
const TIMER_GRANULARITY: Duration = Duration::from_millis(50);

/// Everything the engine task reacts to.
pub(crate) enum EngineCmd {
    /// New desired state from the datastore.
    Desired(Box<Desired>),
    /// The datastore watch is (not) in step with its store, and why not when the backend said.
    DatastoreStatus { synced: bool, reason: Option<String> },
    /// The listener accepted a connection.
    Incoming {
        stream: TcpStream,
        remote: SocketAddr,
        local: SocketAddr,
    },
    /// An outgoing connection is up.
    Connected { conn: ConnId, stream: TcpStream },
    /// An outgoing connection failed.
    ConnectFailed { conn: ConnId, error: String },
    /// A frame received before the session's decode context was known.
    Frame { conn: ConnId, frame: Bytes },
    /// A frame decoded by the reader: the message with its RFC 7606 errors, or the decode error
    /// (also for broken framing).
    Received {
        conn: ConnId,
        received: Box<Received>,
        /// The UPDATE frame itself, kept only when BMP or BGP4MP monitors want it.
        frame: Option<Bytes>,
    },
    /// The connection ended (EOF or error).
    Disconnected { conn: ConnId },
    /// A congested connection's write queue drained below the low watermark.
    Drained { conn: ConnId },
    /// The queues of all connections drained below the output budget after it was used up.
    OutputRoom,
    /// A control API request.
    Control(ControlReq, oneshot::Sender<Result<Value, String>>),
    /// A BMP collector's or the BGP4MP writer's request ([`monitor`]).
    Monitor(monitor::MonitorCmd),
    /// Stop.
    Shutdown {
        mode: ShutdownMode,
        done: oneshot::Sender<()>,
    },
}

/// Control API requests answered by the engine task.
#[derive(Debug, Clone)]
pub(crate) enum ControlReq {
    Status,
    Peers,
    /// One route (`prefix`), or one page of the Loc-RIB: up to `limit` routes after the prefix `after`.
    Routes {
        prefix: Option<String>,
        after: Option<String>,
        limit: Option<String>,
    },
    Reset {
        name: String,
    },
    Refresh {
        name: String,
    },
    /// One page of the RIB for `rr-cli dump --mrt` ([`rib_dump`]).
    Rib {
        view: rib_dump::RibView,
        after: Option<String>,
        limit: usize,
    },
}

/// Write-queue accounting shared by the engine task and a connection's writer.
#[derive(Default)]
struct Flow {
    queued: AtomicUsize,
    congested: AtomicBool,
}

/// Bytes queued across all connections (`--output-budget`), shared by the engine task and every writer.
struct Budget {
    total: AtomicUsize,
    limit: usize,
    /// The engine task stopped pulling catch-up output for want of room: the writer that brings the total
    /// below [`Budget::room_at`] wakes it.
    waiting: AtomicBool,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            limit,
            waiting: AtomicBool::new(false),
        }
    }

    fn used_up(&self) -> bool {
        self.total.load(Ordering::Acquire) >= self.limit
    }

    /// The total below which a waiting engine task is woken.
    fn room_at(&self) -> usize {
        self.limit / 4 * 3
    }
}

/// Subtracts up to `n` from `a` (never below zero); returns what was subtracted.
fn take(a: &AtomicUsize, n: usize) -> usize {
    let mut took = 0;
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        took = v.min(n);
        Some(v - took)
    });
    took
}

/// Queue entries of a session writer.
enum WriteCmd {
    Send(Bytes),
    Close,
}

struct ConnHandle {
    peer: PeerId,
    tx: mpsc::Sender<WriteCmd>,
    flow: Arc<Flow>,
    ctx: watch::Sender<Option<Arc<DecodeCtx>>>,
}

struct PeerEntry {
    id: PeerId,
    spec: PeerSpec,
    /// Messages and NOTIFICATIONs to and from the peer, for the metrics.
    wire: WireCounts,
    /// When the last established session ended (wall clock, for `rr-cli peers`).
    last_down_at: Option<std::time::SystemTime>,
}

/// Shared state the HTTP endpoints read without asking the engine task.
#[derive(Debug, Default, Clone)]
pub(crate) struct Health {
    /// The datastore has been listed at least once.
    pub datastore_seen: bool,
    /// The datastore watch is currently in step.
    pub datastore_synced: bool,
    /// Why the datastore is not in step (a missing or empty file, an outage, an empty listing).
    pub datastore_problem: Option<String>,
    /// A BGP listener is bound.
    pub listening: bool,
}

struct Listener {
    ip: IpAddr,
    port: u16,
    sock: Arc<TcpListener>,
    task: AbortHandle,
}

/// The engine task's state.
pub(crate) struct EngineTask {
    engine: Option<Engine>,
    identity: Option<EngineIdentity>,
    epoch: tokio::time::Instant,
    peers: HashMap<IpAddr, PeerEntry>,
    by_id: HashMap<PeerId, IpAddr>,
    conns: HashMap<ConnId, ConnHandle>,
    /// Connect attempts in flight, and those the engine gave up on meanwhile.
    connecting: HashSet<ConnId>,
    cancelled: HashSet<ConnId>,
    pending_peer: HashMap<ConnId, PeerId>,
    /// Attempts waiting for one of the [`MAX_CONNECTS_IN_FLIGHT`] slots, and the number in flight.
    connect_queue: VecDeque<(PeerId, ConnId, IpAddr, Option<IpAddr>)>,
    connects_in_flight: usize,
    /// Peers the datastore asks for that are not started (shown by `/peers` with the reason).
    disabled: Vec<DisabledPeer>,
    /// Rate limits of the log lines a remote party can cause at will.
    reject_log: LogLimit,
    rfc7606_log: LogLimit,
    /// The same failure before Established is logged again only when it changes or after a while.
    failures: Repeats<PeerId>,
    listeners: Vec<Listener>,
    tx: mpsc::Sender<EngineCmd>,
    metrics: Arc<Metrics>,
    health: watch::Sender<Health>,
    node_name: String,
    listen_port: u16,
    /// The listener addresses and port the desired state asks for.
    listen_wanted: Option<(Vec<IpAddr>, u16)>,
    /// Listener addresses whose bind failed (logged once; retried every second).
    listen_failing: HashSet<SocketAddr>,
    rng_seed: u64,
    high_watermark: usize,
    low_watermark: usize,
    budget: Arc<Budget>,
    /// The last pass stopped at [`CATCH_UP_PER_PASS`] with members still catching up.
    catch_up_more: bool,
    /// Minimum time between two flushes of the engine's route changes (`--batch-interval-ms`).
    batch_interval: Duration,
    /// Route-selection deferral of every engine this task builds (`--selection-deferral-secs`).
    selection_deferral: Option<Duration>,
    last_flush: tokio::time::Instant,
    /// The engine's next timer deadline as last looked up, when, and whether the engine may have armed an
    /// earlier one since (see [`TIMER_GRANULARITY`]).
    timer_deadline: Option<tokio::time::Instant>,
    timers_checked: tokio::time::Instant,
    timers_stale: bool,
    /// When due timers were last fired.
    timers_fired: tokio::time::Instant,
    /// BMP collectors and the BGP4MP update log, when configured.
    monitor: Option<monitor::Monitor>,
}

impl EngineTask {
    pub(crate) fn new(
        tx: mpsc::Sender<EngineCmd>,
        metrics: Arc<Metrics>,
        health: watch::Sender<Health>,
        high_watermark: usize,
        output_budget: usize,
        batch_interval: Duration,
        selection_deferral: Option<Duration>,
    ) -> Self {
        Self {
            engine: None,
            identity: None,
            epoch: tokio::time::Instant::now(),
            peers: HashMap::new(),
            by_id: HashMap::new(),
            conns: HashMap::new(),
            connecting: HashSet::new(),
            cancelled: HashSet::new(),
            pending_peer: HashMap::new(),
            connect_queue: VecDeque::new(),
            connects_in_flight: 0,
            disabled: Vec::new(),
            reject_log: LogLimit::new(5, Duration::from_secs(10)),
            rfc7606_log: LogLimit::new(5, Duration::from_secs(10)),
            failures: Repeats::new(Duration::from_secs(300)),
            listeners: Vec::new(),
            tx,
            metrics,
            health,
            node_name: String::new(),
            listen_port: 0,
            listen_wanted: None,
            listen_failing: HashSet::new(),
            rng_seed: rand::random(),
            high_watermark,
            low_watermark: high_watermark / LOW_WATERMARK_DIVISOR,
            budget: Arc::new(Budget::new(output_budget)),
            catch_up_more: false,
            batch_interval,
            selection_deferral,
            last_flush: tokio::time::Instant::now(),
            timer_deadline: None,
            timers_checked: tokio::time::Instant::now(),
            timers_stale: true,
            timers_fired: tokio::time::Instant::now(),
            monitor: None,
        }
    }

    /// A BMP collector or the BGP4MP update log: its task gets the returned handle.
    pub(crate) fn add_monitor_sink(
        &mut self,
        kind: monitor::SinkKind,
        overflows: prometheus_client::metrics::counter::Counter,
    ) -> monitor::SinkHandle {
        self.monitor
            .get_or_insert_with(monitor::Monitor::new)
            .add_sink(kind, overflows)
    }

    fn now(&self) -> rr_core::Instant {
        let d = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        rr_core::Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Runs until shutdown or until every sender is gone.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<EngineCmd>) {
        let mut gauge_tick = tokio::time::interval(Duration::from_secs(1));
        gauge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Session traffic (OPEN, KEEPALIVE, NOTIFICATION) goes out at once; route changes are flushed
            // at most once per batch interval.
            let mut flush_at = self.drain_batched();
            if self.catch_up_more {
                // More catch-up output is due: come back at once, after whatever arrived meanwhile.
                flush_at = Some(tokio::time::Instant::now());
            }
            let deadline = match (self.timer_wake(), flush_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    if let EngineCmd::Shutdown { mode, done } = cmd {
                        self.shutdown(mode).await;
                        let _ = done.send(());
                        return;
                    }
                    self.handle(cmd);
                    // Take whatever else is queued before flushing, so UPDATEs get packed.
                    for _ in 0..256 {
                        match rx.try_recv() {
                            Ok(EngineCmd::Shutdown { mode, done }) => {
                                self.shutdown(mode).await;
                                let _ = done.send(());
                                return;
                            }
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                    self.timers_stale = true;
                }
                _ = sleep_until(deadline) => {
                    if self.fire_due_timers() {
                        self.timers_stale = true;
                    }
                }
                _ = gauge_tick.tick() => {
                    self.update_gauges();
                    self.retry_listeners();
                }
            }
        }
    }

    /// When the loop must wake for the engine's timers: the next deadline, looked up again at most once per
    /// [`TIMER_GRANULARITY`] after the engine may have changed, and due timers fired at most that often.
    fn timer_wake(&mut self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        if self.timers_stale && now >= self.timers_checked + TIMER_GRANULARITY {
            self.refresh_timer_deadline(now);
        }
        let mut wake = self.timer_deadline;
        if self.timers_stale {
            // The engine may have armed an earlier timer since the last look: look again in a while.
            let recheck = self.timers_checked + TIMER_GRANULARITY;
            wake = Some(wake.map_or(recheck, |w| w.min(recheck)));
        }
        wake.map(|w| w.max(self.timers_fired + TIMER_GRANULARITY))
    }

    fn refresh_timer_deadline(&mut self, now: tokio::time::Instant) {
        self.timer_deadline = self
            .engine
            .as_ref()
            .and_then(Engine::poll_timeout)
            .map(|t| self.epoch + Duration::from_nanos(t.as_nanos()));
        self.timers_checked = now;
        self.timers_stale = false;
    }

    /// Fires the engine's timers that are due (after looking up the deadline again if it may be stale);
    /// `true` if any were.
    fn fire_due_timers(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self.timers_stale {
            self.refresh_timer_deadline(now);
        }
        if self.timer_deadline.is_some_and(|d| d <= now) {
            let t = self.now();
            if let Some(e) = self.engine.as_mut() {
                e.handle_timeout(t);
            }
            self.timers_fired = now;
            return true;
        }
        false
    }

    fn handle(&mut self, cmd: EngineCmd) {
        let now = self.now();
        match cmd {
            EngineCmd::Desired(d) => self.apply_desired(*d),
            EngineCmd::DatastoreStatus { synced, reason } => {
                let seen = self.health.borrow().datastore_seen;
                self.health.send_modify(|h| {
                    h.datastore_synced = synced;
                    h.datastore_seen |= synced;
                    h.datastore_problem = reason.clone();
                });
                self.metrics.datastore_synced.set(i64::from(synced));
                // Not yet listed at start-up is no outage: warn only when the datastore was in step before,
                // or when the backend says what is wrong.
                if !synced && (seen || reason.is_some()) {
                    self.metrics.datastore_error("unavailable");
                    warn!(
                        reason = reason.as_deref().unwrap_or("not in step"),
                        "datastore unavailable: keeping every session and the last good configuration"
                    );
                }
            }
            EngineCmd::Incoming {
                stream,
                remote,
                local,
            } => self.incoming(stream, remote, local),
            EngineCmd::Connected { conn, stream, .. } => {
                self.connect_finished();
                self.connecting.remove(&conn);
                let peer = self.peer_of_conn_hint(conn);
                if self.cancelled.remove(&conn) || self.engine.is_none() {
                    return;
                }
                let Some(peer) = peer else { return };
                let local = stream.local_addr().ok().map(|a| a.ip());
                self.start_conn(conn, peer, stream);
                if let Some(e) = self.engine.as_mut() {
                    e.handle_connected(now, conn, local);
                }
            }
            EngineCmd::ConnectFailed { conn, error, .. } => {
                self.connect_finished();
                self.connecting.remove(&conn);
                self.pending_peer.remove(&conn);
                if self.cancelled.remove(&conn) {
                    return;
                }
                debug!(conn = conn.get(), %error, "connect failed");
                if let Some(e) = self.engine.as_mut() {
                    e.handle_connect_failed(now, conn);
                }
            }
            EngineCmd::Frame { conn, frame, .. } => {
                // Before the session's decode context reached the reader: decode here with the engine's
                // context for the connection (what `Engine::handle_frame` would do), so that the message is
                // counted and its RFC 7606 outcome reported the same way as one the reader decoded.
                let Some(ctx) = self.engine.as_ref().map(|e| e.decode_ctx(conn)) else {
                    return;
                };
                if let Some(m) = self.monitor.as_mut() {
                    m.frame(conn, &frame);
                }
                let received = Message::decode_with_errors(&frame, &ctx).into();
                let keep = self.monitor.is_some() && is_update(&frame);
                self.received(now, conn, received, keep.then_some(frame));
            }
            EngineCmd::Received {
                conn,
                received,
                frame,
                ..
            } => self.received(now, conn, *received, frame),
            EngineCmd::Disconnected { conn, .. } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.conn_closed(conn);
                }
                if self.conns.remove(&conn).is_some()
                    && let Some(e) = self.engine.as_mut()
                {
                    e.handle_disconnected(now, conn);
                }
            }
            EngineCmd::Drained { conn, .. } => {
                if self.conns.contains_key(&conn)
                    && let Some(e) = self.engine.as_mut()
                {
                    debug!(conn = conn.get(), "write queue drained: catching up");
                    e.set_congested(now, conn, false);
                }
            }
            // The loop pulls more catch-up output after handling this.
            EngineCmd::OutputRoom => {}
            EngineCmd::Control(req, reply) => {
                let _ = reply.send(self.control(req));
            }
            EngineCmd::Monitor(cmd) => {
                if let Some(m) = self.monitor.as_mut() {
                    m.command(self.engine.as_ref(), cmd);
                }
            }
            EngineCmd::Shutdown { .. } => {}
        }
    }

    /// The peer an outgoing connection was opened for (recorded when the engine asked for it).
    fn peer_of_conn_hint(&mut self, conn: ConnId) -> Option<PeerId> {
        self.pending_peer.remove(&conn)
    }
}

impl EngineTask {
    // ------------------------------------------------------------------ outputs

    /// Sends what the engine has queued and flushes its route changes if the batch interval since the last
    /// flush has passed; otherwise returns when the next flush is due.
    fn drain_batched(&mut self) -> Option<tokio::time::Instant> {
        self.drain_queued();
        let pending = self.engine.as_ref().is_some_and(Engine::has_pending_changes);
        if !pending {
            return None;
        }
        let due = self.last_flush + self.batch_interval;
        let now = tokio::time::Instant::now();
        if now < due {
            return Some(due);
        }
        self.last_flush = now;
        self.drain();
        None
    }

    /// Acts on the engine's queued outputs without flushing pending route changes, then on catch-up output
    /// while the output budget has room (at most [`CATCH_UP_PER_PASS`] messages).
    fn drain_queued(&mut self) {
        while let Some(out) = self.engine.as_mut().and_then(Engine::poll_queued) {
            self.act(out);
        }
        self.catch_up_more = false;
        for _ in 0..CATCH_UP_PER_PASS {
            if self.budget.used_up() {
                self.budget.waiting.store(true, Ordering::Release);
                // A writer may have made room before seeing the flag.
                if self.budget.used_up() {
                    return;
                }
                self.budget.waiting.store(false, Ordering::Release);
            }
            match self.engine.as_mut().and_then(Engine::poll_catch_up) {
                Some(out) => self.act(out),
                None => return,
            }
        }
        self.catch_up_more = true;
    }

    /// Flushes the engine's route changes, then drains every output and acts on it.
    fn drain(&mut self) {
        if let Some(e) = self.engine.as_mut() {
            e.flush();
        }
        self.drain_queued();
    }

    /// Acts on one engine output.
    fn act(&mut self, out: Output) {
        match out {
            Output::Send { conn, bytes } => {
                self.metrics.sent_bytes.inc_by(bytes.len() as u64);
                if let Some(w) = self.wire_of(conn) {
                    w.count_frames(Dir::Out, &bytes);
                }
                if let Some(m) = self.monitor.as_mut() {
                    m.sent(conn, &bytes);
                }
                let Some(h) = self.conns.get(&conn) else { return };
                let len = bytes.len();
                // The total first: a writer takes from its own count, then from the total.
                let total = self.budget.total.fetch_add(len, Ordering::AcqRel) + len;
                let queued = h.flow.queued.fetch_add(len, Ordering::AcqRel) + len;
                // Over its own limit, or holding anything while the process's budget is used up.
                let over = queued > self.high_watermark
                    || (total > self.budget.limit && queued > self.low_watermark);
                let congest = over && !h.flow.congested.swap(true, Ordering::AcqRel);
                if h.tx.try_send(WriteCmd::Send(bytes)).is_err() {
                    // Not queued: take back what the writer has not taken already (it gives back what is
                    // left when it ends).
                    self.budget
                        .total
                        .fetch_sub(take(&h.flow.queued, len), Ordering::AcqRel);
                    warn!(
                        conn = conn.get(),
                        "send queue full or closed: dropping the connection"
                    );
                    self.conns.remove(&conn);
                    if let Some(m) = self.monitor.as_mut() {
                        m.conn_closed(conn);
                    }
                    let now = self.now();
                    if let Some(e) = self.engine.as_mut() {
                        e.handle_disconnected(now, conn);
                    }
                } else if congest {
                    debug!(
                        conn = conn.get(),
                        queued, "write queue above the high watermark: congested"
                    );
                    let now = self.now();
                    if let Some(e) = self.engine.as_mut() {
                        e.set_congested(now, conn, true);
                        // The writer may have drained meanwhile without seeing the flag.
                        if h.flow.queued.load(Ordering::Acquire) < self.low_watermark
                            && h.flow.congested.swap(false, Ordering::AcqRel)
                        {
                            e.set_congested(now, conn, false);
                        }
                    }
                }
            }
            Output::Close { conn } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.conn_closed(conn);
                }
                if let Some(h) = self.conns.remove(&conn) {
                    let _ = h.tx.try_send(WriteCmd::Close);
                } else if self.connecting.contains(&conn) {
                    self.cancelled.insert(conn);
                }
            }
            Output::Connect {
                peer,
                conn,
                remote_addr,
                local_addr,
            } => {
                self.connect(peer, conn, remote_addr, local_addr);
            }
            Output::Established {
                peer,
                conn,
                decode_ctx,
                negotiated,
            } => {
                if let Some(h) = self.conns.get(&conn) {
                    let _ = h.ctx.send(Some(decode_ctx));
                }
                if let Some(m) = self.monitor.as_mut()
                    && let Some(addr) = self.by_id.get(&peer).copied()
                {
                    let post_policy = self
                        .peers
                        .get(&addr)
                        .is_some_and(|e| e.spec.config.import_policy != rr_core::policy::Policy::default());
                    let local_as = self.identity.map_or(0, |i| i.local_as);
                    m.established(peer, conn, addr, local_as, &negotiated, post_policy);
                }
                self.metrics.sessions_established.inc();
                // Kept current between the once-a-second gauge refreshes.
                self.metrics.peers_established.inc();
                let name = self.peer_name(peer);
                // In the peer's span, so that a per-peer log level (`rr-cli log-level L --peer NAME`) applies.
                let _span = info_span!("peer", name = %name).entered();
                info!(peer = %name, families = %control::families(negotiated.families).join(","),
                  add_path_tx = %control::families(negotiated.add_path_tx).join(","),
                  hold_secs = negotiated.hold_time.as_secs(), "session established");
            }
            Output::SessionDown { peer, reason } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.session_down(peer, &reason);
                }
                self.metrics.sessions_closed.inc();
                self.metrics.peers_established.dec();
                if let Some(e) = self.by_id.get(&peer).and_then(|a| self.peers.get_mut(a)) {
                    e.last_down_at = Some(std::time::SystemTime::now());
                }
                let name = self.peer_name(peer);
                let _span = info_span!("peer", name = %name).entered();
                let addr = self.by_id.get(&peer).map(|a| a.to_string()).unwrap_or_default();
                if administrative(&reason) {
                    info!(peer = %name, address = %addr, %reason, "session down");
                } else {
                    warn!(peer = %name, address = %addr, %reason, "session down");
                }
            }
            Output::ConnectionFailed { peer, reason, .. } => {
                self.metrics.session_failures.inc();
                let name = self.peer_name(peer);
                let addr = self.by_id.get(&peer).map(|a| a.to_string()).unwrap_or_default();
                let text = reason.to_string();
                if let Some(e) = self.by_id.get(&peer).and_then(|a| self.peers.get_mut(a)) {
                    e.last_down_at = Some(std::time::SystemTime::now());
                }
                let _span = info_span!("peer", name = %name).entered();
                if let Some(repeats) = self.failures.check(peer, &text, tokio::time::Instant::now()) {
                    warn!(peer = %name, address = %addr, reason = %text, repeats,
                          "session failed before Established");
                }
            }
            Output::SelectionDeferralEnded { deferred, waiting } => {
                let secs = deferred.as_secs_f64();
                if waiting.is_empty() {
                    info!(
                        deferred_secs = secs,
                        "route selection starts: End-of-RIB received from every peer"
                    );
                } else {
                    let names: Vec<String> = waiting.iter().map(|p| self.peer_name(*p)).collect();
                    warn!(deferred_secs = secs, waiting = %names.join(","),
                          "route selection starts: the selection-deferral timer expired before these peers sent End-of-RIB");
                }
            }
            other => debug!(?other, "unhandled engine output"),
        }
    }

    /// A message from a session reader, decoded: counted (by type, NOTIFICATION code, RFC 7606 outcome, or
    /// as malformed) and handed to the engine.
    fn received(&mut self, now: rr_core::Instant, conn: ConnId, received: Received, frame: Option<Bytes>) {
        if frame.is_some() {
            // The monitors must have seen the session's Established (queued by the KEEPALIVE handled just
            // before, in the same batch) before its first UPDATE.
            self.drain_queued();
        }
        let mut treat_as_withdraw = false;
        match &received {
            Received::Error(err) => {
                self.metrics.malformed_messages.inc();
                if let Some(h) = self.conns.get(&conn) {
                    let name = self
                        .by_id
                        .get(&h.peer)
                        .and_then(|a| self.peers.get(a))
                        .map(|p| p.spec.name.clone());
                    warn!(peer = name.as_deref().unwrap_or("?"), error = %err, "malformed message");
                }
            }
            Received::Message { msg, errors } => {
                self.metrics.received_messages.inc();
                if let Some(w) = self.wire_of(conn) {
                    let notification = match msg {
                        Message::Notification(n) => Some((n.code, n.subcode)),
                        _ => None,
                    };
                    w.count(Dir::In, msg.message_type().to_u8(), notification);
                }
                if !errors.is_empty() {
                    self.count_rfc7606(conn, errors);
                    treat_as_withdraw = errors.iter().any(|e| e.treatment == Treatment::TreatAsWithdraw);
                }
            }
            _ => {}
        }
        // The post-policy keys of an UPDATE the monitors want, taken before the engine consumes it.
        let monitored = frame.and_then(|f| {
            let keys = self.monitor.as_ref()?.before_update(conn, &received)?;
            Some((f, keys))
        });
        if self.conns.contains_key(&conn)
            && let Some(e) = self.engine.as_mut()
        {
            e.handle_received(now, conn, received);
            if let Some((frame, keys)) = monitored
                && let Some(m) = self.monitor.as_mut()
            {
                m.update(e, conn, frame, &keys, treat_as_withdraw);
            }
        }
    }

    /// Counts (per peer and treatment) and logs, rate-limited, the RFC 7606 errors of a received UPDATE that
    /// did not reset the session.
    fn count_rfc7606(&mut self, conn: ConnId, errors: &[bgp_wire::DecodeError]) {
        let Some(peer) = self.conns.get(&conn).map(|h| h.peer) else {
            return;
        };
        let name = self.peer_name(peer);
        for err in errors {
            let treatment = treatment_name(err.treatment);
            self.metrics
                .rfc7606_events
                .get_or_create(&crate::metrics::Rfc7606Labels {
                    peer: name.clone(),
                    treatment: treatment.to_string(),
                })
                .inc();
            if let Some(suppressed) = self.rfc7606_log.check(tokio::time::Instant::now()) {
                warn!(peer = %name, treatment, error = %err, suppressed,
                      "malformed UPDATE handled per RFC 7606");
            }
        }
    }

    /// The message counters of the peer of `conn`.
    fn wire_of(&mut self, conn: ConnId) -> Option<&mut WireCounts> {
        let peer = self.conns.get(&conn)?.peer;
        let addr = self.by_id.get(&peer)?;
        self.peers.get_mut(addr).map(|e| &mut e.wire)
    }

    fn peer_name(&self, id: PeerId) -> String {
        // Peers are removed from these maps only after the engine's outputs about them were acted on
        // (converge::apply_desired), so the fallback is for a bug, not a normal path.
        self.by_id
            .get(&id)
            .and_then(|a| self.peers.get(a))
            .map_or_else(|| format!("#{}", id.get()), |p| p.spec.name.clone())
    }

    fn spec_of(&self, id: PeerId) -> Option<&PeerSpec> {
        self.by_id
            .get(&id)
            .and_then(|a| self.peers.get(a))
            .map(|p| &p.spec)
    }

    /// Starts an outgoing attempt, or queues it while [`MAX_CONNECTS_IN_FLIGHT`] are under way.
    fn connect(&mut self, peer: PeerId, conn: ConnId, remote: IpAddr, local: Option<IpAddr>) {
        if self.spec_of(peer).is_none() {
            return;
        }
        self.connecting.insert(conn);
        self.pending_peer.insert(conn, peer);
        if self.connects_in_flight < MAX_CONNECTS_IN_FLIGHT {
            self.spawn_connect(peer, conn, remote, local);
        } else {
            self.connect_queue.push_back((peer, conn, remote, local));
        }
    }

    /// An attempt of the current engine ended: start queued ones in its slot (skipping those the engine
    /// gave up on meanwhile, which it no longer expects an answer for).
    fn connect_finished(&mut self) {
        self.connects_in_flight = self.connects_in_flight.saturating_sub(1);
        while self.connects_in_flight < MAX_CONNECTS_IN_FLIGHT {
            let Some((peer, conn, remote, local)) = self.connect_queue.pop_front() else {
                break;
            };
            if self.cancelled.remove(&conn) || self.spec_of(peer).is_none() {
                self.connecting.remove(&conn);
                self.pending_peer.remove(&conn);
                continue;
            }
            self.spawn_connect(peer, conn, remote, local);
        }
    }

    fn spawn_connect(&mut self, peer: PeerId, conn: ConnId, remote: IpAddr, local: Option<IpAddr>) {
        let Some(spec) = self.spec_of(peer).cloned() else {
            return;
        };
        self.connects_in_flight += 1;
        let tx = self.tx.clone();
        let span = info_span!("peer", name = %spec.name, addr = %spec.addr);
        tokio::spawn(
            async move {
                let res =
                    tokio::time::timeout(CONNECT_TIMEOUT, connect_socket(remote, spec.port, local, &spec))
                        .await;
                let cmd = match res {
                    Ok(Ok(stream)) => EngineCmd::Connected { conn, stream },
                    Ok(Err(e)) => EngineCmd::ConnectFailed {
                        conn,
                        error: e.to_string(),
                    },
                    Err(_) => EngineCmd::ConnectFailed {
                        conn,
                        error: "timed out".into(),
                    },
                };
                let _ = tx.send(cmd).await;
            }
            .instrument(span),
        );
    }

    fn incoming(&mut self, stream: TcpStream, remote: SocketAddr, local: SocketAddr) {
        let now = self.now();
        let ip = canonical(remote.ip());
        // RFC 5082 section 3: "discards incoming packets whose TTL is less than 255 - (trusted hop count) + 1".
        // On an accepted connection: the SYN's TTL (saved by the listener) is checked, then the socket drops
        // every later segment below the minimum and sends with TTL 255, as an outgoing GTSM connection does.
        if let Some(hops) = self.peers.get(&ip).and_then(|p| p.spec.ttl_security)
            && let Err(e) = sockopt::accept_gtsm(&stream, local.is_ipv6(), hops)
        {
            warn!(%remote, error = %e, "GTSM check failed on an accepted connection: refused");
            tokio::spawn(reject(
                stream,
                Notification::new(code::CEASE, cease::CONNECTION_REJECTED),
            ));
            return;
        }
        let accepted = self
            .engine
            .as_mut()
            .and_then(|e| e.handle_incoming(now, ip, Some(local.ip())));
        match accepted {
            Some((peer, conn)) => {
                debug!(%remote, conn = conn.get(), "accepted");
                self.start_conn(conn, peer, stream);
            }
            None => {
                // RFC 4486 section 4: "If a BGP speaker decides to disallow a BGP connection (e.g., the peer is
                // not configured locally) after the speaker accepts a transport protocol connection, then the
                // BGP speaker SHOULD send a NOTIFICATION message with the Error Code Cease and the Error
                // Subcode 'Connection Rejected'."
                self.metrics.connections_rejected.inc();
                if let Some(suppressed) = self.reject_log.check(tokio::time::Instant::now()) {
                    info!(%remote, suppressed,
                          "connection from an address we have no (enabled) peering for: rejected");
                }
                tokio::spawn(reject(
                    stream,
                    Notification::new(code::CEASE, cease::CONNECTION_REJECTED),
                ));
            }
        }
    }

    /// Spawns the reader and writer tasks of a connection.
    fn start_conn(&mut self, conn: ConnId, peer: PeerId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        if let Some(m) = self.monitor.as_mut() {
            m.conn_started(conn, peer, stream.local_addr().ok(), stream.peer_addr().ok());
        }
        let keep_frames = self.monitor.as_ref().is_some_and(monitor::Monitor::wants_frames);
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let (ctx_tx, ctx_rx) = watch::channel(None);
        // No tracing span on the reader and writer: they log nothing themselves (the engine task reports
        // their events), and entering a span on every poll costs a few percent of the daemon's CPU.
        let reader = tokio::spawn(read_loop(
            conn,
            rd,
            ctx_rx,
            self.tx.clone(),
            keep_frames,
        ));
        let flow = Arc::new(Flow::default());
        let w = Writer {
            conn,
            flow: flow.clone(),
            budget: self.budget.clone(),
            tx: self.tx.clone(),
            reader: reader.abort_handle(),
            low_watermark: self.low_watermark,
        };
        tokio::spawn(w.run(wr, rx));
        self.conns.insert(
            conn,
            ConnHandle {
                peer,
                tx,
                flow,
                ctx: ctx_tx,
            },
        );
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Opens an outgoing BGP connection with the peer's socket options.
async fn connect_socket(
    remote: IpAddr,
    port: u16,
    local: Option<IpAddr>,
    spec: &PeerSpec,
) -> std::io::Result<TcpStream> {
    let sock = if remote.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(l) = local {
        sock.bind(SocketAddr::new(l, 0))?;
    }
    if let Some(pw) = &spec.password {
        sockopt::set_tcp_md5(&sock, remote, Some(pw.as_bytes()))?;
    }
    if let Some(h) = spec.ttl_security {
        sockopt::set_gtsm(&sock, remote.is_ipv6(), h)?;
    }
    sock.connect(SocketAddr::new(remote, port)).await
}

/// Sends `n` on a connection we refuse, then closes it.
async fn reject(mut stream: TcpStream, n: Notification) {
    let mut buf = BytesMut::new();
    if Message::Notification(n)
        .encode(&EncodeCtx::default(), &mut buf)
        .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&buf)).await;
    }
    let _ = stream.shutdown().await;
    // Closing with the peer's OPEN still unread makes the kernel send a RST, and the peer may then lose
    // the NOTIFICATION (it sees "broken pipe" instead). Read and discard until it closes, for 2 s at most.
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// Reads, frames and decodes one connection.
async fn read_loop(
    conn: ConnId,
    mut rd: OwnedReadHalf,
    ctx: watch::Receiver<Option<Arc<DecodeCtx>>>,
    tx: mpsc::Sender<EngineCmd>,
    keep_frames: bool,
) {
    // Most sessions are idle after their initial table: an idle session holds no read buffer (one
    // is allocated when the socket becomes readable, 4 KiB, grown by READ_CHUNK when busy).
    let mut buf = BytesMut::new();
    loop {
        // Frame whatever is buffered.
        loop {
            let cur = ctx.borrow().clone();
            let max = if cur.as_ref().is_some_and(|c| c.extended_message) {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            };
            match bgp_wire::frame_len(&buf, max) {
                Ok(Some(len)) => {
                    let frame = buf.split_to(len).freeze();
                    let cmd = match &cur {
                        None => EngineCmd::Frame { conn, frame },
                        // Decoded once, here; the engine applies the RFC 7606 outcome.
                        Some(c) => EngineCmd::Received {
                            conn,
                            received: Box::new(Message::decode_with_errors(&frame, c).into()),
                            frame: (keep_frames && is_update(&frame)).then_some(frame),
                        },
                    };
                    if tx.send(cmd).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    // Bad marker or length: RFC 4271 section 6.1 header errors end the session; stop reading.
                    let _ = tx
                        .send(EngineCmd::Received {
                            conn,
                            received: Box::new(Received::Error(err)),
                            frame: None,
                        })
                        .await;
                    return;
                }
            }
        }
        if buf.is_empty() {
            // No partial message is buffered: give the buffer back while waiting for data. (The
            // frames split off it share its memory until the engine has handled them.)
            buf = BytesMut::new();
            // An error here is reported by the read below.
            let _ = rd.readable().await;
            buf.reserve(4096);
        } else if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(EngineCmd::Disconnected { conn }).await;
                return;
            }
            Ok(_) => {}
        }
    }
}

/// The writing side of a connection.
struct Writer {
    conn: ConnId,
    flow: Arc<Flow>,
    budget: Arc<Budget>,
    tx: mpsc::Sender<EngineCmd>,
    reader: AbortHandle,
    low_watermark: usize,
}

/// Messages taken from a writer's queue into one vectored write at most.
const WRITE_BATCH: usize = 64;

impl Writer {
    /// Writes queued messages; on `Close` (or when the engine drops the queue) flushes and closes.
    ///
    /// Whatever is queued when the socket is ready goes out in one vectored write (up to
    /// [`WRITE_BATCH`] messages), so a burst to a peer costs a few system calls, not one per UPDATE.
    async fn run(self, wr: OwnedWriteHalf, mut rx: mpsc::Receiver<WriteCmd>) {
        self.write_all(wr, &mut rx).await;
        // Whatever is still queued will never be written: give it back to the output budget. The queue is
        // closed first, so the engine task queues nothing more (and takes back what it tried to).
        rx.close();
        while rx.try_recv().is_ok() {}
        let left = self.flow.queued.swap(0, Ordering::AcqRel);
        self.budget.total.fetch_sub(left, Ordering::AcqRel);
        self.room();
    }

    async fn write_all(&self, mut wr: OwnedWriteHalf, rx: &mut mpsc::Receiver<WriteCmd>) {
        // Grown during a burst and given back after it (below).
        let mut batch: Vec<Bytes> = Vec::new();
        let mut close = false;
        while !close {
            match rx.recv().await {
                Some(WriteCmd::Send(b)) => batch.push(b),
                Some(WriteCmd::Close) | None => close = true,
            }
            while !close && batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(WriteCmd::Send(b)) => batch.push(b),
                    Ok(WriteCmd::Close) => close = true,
                    Err(_) => break,
                }
            }
            if self.write_batch(&mut wr, &mut batch).await.is_err() {
                // The reader sees the failure too and reports the disconnection.
                return;
            }
            if batch.capacity() > 8 && rx.is_empty() {
                // The burst is over: an idle session keeps no batch buffer.
                batch = Vec::new();
            }
        }
        let _ = wr.shutdown().await;
        // Give the peer a moment to read a final NOTIFICATION before the socket goes away entirely.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.reader.abort();
    }

    /// Writes every message of `batch` (emptied), accounting each write against the queued bytes.
    async fn write_batch(&self, wr: &mut OwnedWriteHalf, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
        let mut i = 0;
        while i < batch.len() {
            let slices: Vec<std::io::IoSlice<'_>> =
                batch[i..].iter().map(|b| std::io::IoSlice::new(b)).collect();
            // A heap list, freed after the call: an array here would live in every session's task.
            let n = wr.write_vectored(&slices).await?;
            drop(slices);
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let mut left = n;
            while left > 0 && i < batch.len() {
                let len = batch[i].len();
                if left >= len {
                    left -= len;
                    i += 1;
                } else {
                    bytes::Buf::advance(&mut batch[i], left);
                    left = 0;
                }
            }
            self.written(n).await;
        }
        batch.clear();
        Ok(())
    }

    /// Wakes the engine task if it waits for room in the output budget and there is some now.
    fn room(&self) {
        if self.budget.total.load(Ordering::Acquire) < self.budget.room_at()
            && self.budget.waiting.swap(false, Ordering::AcqRel)
        {
            // If the engine's queue is full it is busy, and pulls more output once it has handled it.
            let _ = self.tx.try_send(EngineCmd::OutputRoom);
        }
    }

    /// `n` bytes left the queue: tell the engine once a congested queue drained below the low watermark.
    async fn written(&self, n: usize) {
        let n = take(&self.flow.queued, n);
        self.budget.total.fetch_sub(n, Ordering::AcqRel);
        self.room();
        let left = self.flow.queued.load(Ordering::Acquire);
        if left < self.low_watermark && self.flow.congested.swap(false, Ordering::AcqRel) {
            let _ = self.tx.send(EngineCmd::Drained { conn: self.conn }).await;
        }
    }
}

/// Whether a frame is an UPDATE (RFC 4271 section 4.1: type 2).
fn is_update(frame: &[u8]) -> bool {
    frame.get(18) == Some(&2)
}

/// The RFC 7606 name of a treatment, for metrics labels and logs.
fn treatment_name(t: Treatment) -> &'static str {
    match t {
        Treatment::AttributeDiscard => "attribute-discard",
        Treatment::TreatAsWithdraw => "treat-as-withdraw",
        Treatment::AfiSafiDisable => "afi-safi-disable",
        _ => "session-reset",
    }
}

/// A session end we caused on purpose (shutdown, de-configuration, reset, configuration change): INFO, not
/// WARN.
fn administrative(reason: &rr_core::DownReason) -> bool {
    matches!(reason, rr_core::DownReason::NotificationSent(n)
        if n.code == code::CEASE && matches!(n.subcode, 2 | 3 | 4 | 6))
}
