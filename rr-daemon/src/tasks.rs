//! The daemon's tasks and the channels between them. The modules: [`engine`] (the engine task's loop, its
//! timers and the commands it handles), [`output`] (acting on the engine's outputs), [`connector`] (outgoing
//! connection attempts, accepted and rejected connections), [`session_io`] (each connection's reader and
//! writer), [`converge`] (following the datastore), [`control`] and [`rib_dump`] (control API answers).
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
//!    Send{bytes} up to 8 KiB, not a catch-up: written at once if nothing is queued │   Connect → spawn connect
//!    (else, or what the socket did not take: shared Bytes, bounded mpsc per conn)  ▼   Close   → writer ends
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
//! - The engine task writes a small send (at most 8 KiB, not from a catch-up) straight to the socket (a
//!   non-blocking `send`) while the connection's writer has nothing queued; what the socket does not take,
//!   and all bulk output, goes to the writer, which takes shared `Bytes` from a bounded queue and sends what
//!   has queued in one vectored write: one encoding of an update group is written to every member. Handing
//!   every small write to a writer task (a queue entry, a wake-up, another thread) cost as much as the system
//!   call itself when thousands of members each get a small UPDATE. A peer whose queue overflows is dropped
//!   (its routes are kept by the others until it returns) rather than letting it block the engine or grow
//!   memory without bound.
//! - Flow control: a member whose queue passes `--write-queue-high` bytes, or that holds more than its share
//!   ([`session_io::Budget::fair_share`]) while the process's queues together pass `--output-budget`, leaves its group's shared stream
//!   ([`Engine::set_congested`]). Members catching up (joining, or back after falling behind) are pulled one
//!   message at a time ([`Engine::poll_catch_up`]) only while the budget has room, at most
//!   [`engine::CATCH_UP_PER_PASS`] messages per pass of the engine loop, so that session traffic (KEEPALIVEs,
//!   timers, received messages) is never queued behind a whole catch-up.
//! - The engine task is the only owner of the RIB: no locks on the hot path.
//! - Batching: session traffic (OPEN, KEEPALIVE, NOTIFICATION) is written as soon as the engine queues it
//!   ([`Engine::poll_queued`]); route changes are flushed ([`Engine::flush`]) at once after a quiet period and
//!   then at most once per `--batch-interval-ms`, so under churn each peer gets a few larger writes instead of
//!   one per change. A writer sends whatever is queued for its peer in one vectored write.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
// The engine's ids are small integers it assigns (no peer chooses them): a fast hasher is safe. Every sent
// message looks its connection and peer up in these.
use rr_core::{ConnId, Engine, PeerId, Received};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use crate::config::{Batching, ShutdownMode};
use crate::metrics::{Metrics, WireCounts};
use crate::reconcile::{Desired, DisabledPeer, EngineIdentity, PeerSpec};

mod connector;
mod control;
pub(crate) use control::rfc3339;
mod converge;
mod engine;
mod loglimit;
pub(crate) mod monitor;
mod output;
pub(crate) mod rib_dump;
mod session_io;

use loglimit::{LogLimit, Repeats};
use session_io::{Budget, ConnHandle};

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
    Control(ControlReq, oneshot::Sender<Result<Answer, String>>),
    /// A BMP collector's or the BGP4MP writer's request ([`monitor`]).
    Monitor(monitor::MonitorCmd),
}

/// Stop the engine task: sent on its own channel, which the loop looks at before any command, so a stop is never
/// queued behind a full command channel (thousands of session readers keep it full under load).
#[derive(Debug)]
pub(crate) struct Stop {
    /// Graceful restart (keep the clients' routes) or Cease.
    pub(crate) mode: ShutdownMode,
    /// Told once the sessions are closed.
    pub(crate) done: oneshot::Sender<()>,
}

/// Control API requests answered by the engine task.
#[derive(Debug, Clone)]
pub(crate) enum ControlReq {
    Status,
    /// One page of the configured peers: up to `limit` after the address `after`.
    Peers(control_api::PeersQuery),
    /// One route (`prefix`), or one page of the Loc-RIB: up to `limit` routes after the prefix `after`.
    Routes(control_api::RoutesQuery),
    Reset {
        name: String,
    },
    Refresh {
        name: String,
    },
    /// One page of the RIB for `rr-cli dump --mrt` and the periodic MRT dumps ([`rib_dump`]).
    Rib(control_api::RibQuery),
}

/// The engine task's answer to a [`ControlReq`]: the control API's typed response, serialized as is.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Answer {
    Status(control_api::Status),
    Peers(Vec<control_api::Peer>),
    Routes(Vec<control_api::Route>),
    Reset(control_api::ResetDone),
    Refresh(control_api::RefreshDone),
    Rib(control_api::RibPage),
}

struct PeerEntry {
    id: PeerId,
    spec: Arc<PeerSpec>,
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
    /// The configured peers' daemon-side state, keyed by the engine's id (the address is the engine's
    /// `peer_by_addr`, and `spec.addr`).
    peers: FxHashMap<PeerId, PeerEntry>,
    conns: FxHashMap<ConnId, ConnHandle>,
    /// Connect attempts in flight, and those the engine gave up on meanwhile.
    connecting: FxHashSet<ConnId>,
    cancelled: FxHashSet<ConnId>,
    pending_peer: FxHashMap<ConnId, PeerId>,
    /// Attempts waiting for one of the [`connector::MAX_CONNECTS_IN_FLIGHT`] slots, and the number in flight.
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
    /// Bytes queued across all connections (`--output-budget`).
    budget: Arc<Budget>,
    /// The last pass stopped at [`engine::CATCH_UP_PER_PASS`] with members still catching up.
    catch_up_more: bool,
    /// Time between two flushes of the engine's route changes (`--batch-interval-ms`, growing with the
    /// connections by `--fanout-writes-per-sec`).
    batching: Batching,
    /// Route-selection deferral of every engine this task builds (`--selection-deferral-secs`).
    selection_deferral: Option<Duration>,
    last_flush: tokio::time::Instant,
    /// Paced fan-out: whether the engine holds flush output, and the turn of the connections.
    pacing: Pacing,
    /// The engine's next timer deadline as last looked up, when, and whether the engine may have armed an
    /// earlier one since (see [`engine::TIMER_GRANULARITY`]).
    timer_deadline: Option<tokio::time::Instant>,
    timers_checked: tokio::time::Instant,
    timers_stale: bool,
    /// When due timers were last fired.
    timers_fired: tokio::time::Instant,
    /// BMP collectors and the BGP4MP update log, when configured.
    monitor: Option<monitor::Monitor>,
    /// SO_SNDBUF of the session sockets (`--socket-send-buffer`); `None`: the kernel's sizing.
    socket_send_buffer: Option<usize>,
}

/// Paced fan-out ([`Batching::paced`]): the engine holds each flush's UPDATEs and the connections are
/// written in turn, one every `interval / connections`, each with everything held for it. An UPDATE then
/// waits for its member's turn (at most one interval) instead of for the next flush and then for its
/// place among all the members' writes (up to one interval plus the time the writes take).
#[derive(Debug)]
pub(crate) struct Pacing {
    /// The engine holds flush output ([`Engine::set_hold_fan_out`]).
    on: bool,
    /// The connections in turn order (by id, so that a connection keeps its place when others come or
    /// go), taken again when a round ends.
    ring: Vec<ConnId>,
    /// The next turn in `ring`.
    at: usize,
    /// When the turns up to now were last counted.
    last: tokio::time::Instant,
    /// Scratch for what the engine releases for one connection.
    released: Vec<Bytes>,
    /// Pacing was reported at INFO once.
    logged: bool,
}

impl Pacing {
    fn new() -> Pacing {
        Pacing {
            on: false,
            ring: Vec::new(),
            at: 0,
            last: tokio::time::Instant::now(),
            released: Vec::new(),
            logged: false,
        }
    }
}
