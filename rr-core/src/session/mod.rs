//! The BGP session of one peer (RFC 4271 section 8): states, events, its connections and their
//! FSMs, its timers and the negotiated parameters. A state holds only its own data: `OpenSent`
//! what we offered, `OpenConfirm` and `Established` the negotiated session.
//!
//! A [`Session`] keeps one connection state per TCP connection (RFC 4271 section 8: "one FSM per
//! connection" while a collision is unresolved) and derives the peer's [`State`] from them. Its
//! transitions change only the session and return what the engine must do about the rest
//! ([`Effect`]); each is tested here on a bare session, without an engine:
//! - `fsm`: OPEN, KEEPALIVE, UPDATE-state checks, collision resolution (RFC 4271 section 6.8),
//!   hold and keepalive timers;
//! - `connect`: connection set-up and retry (Idle, Connect, Active; ConnectRetry and IdleHold);
//! - `negotiate`: the OPEN checks and capability negotiation (RFC 4271 section 6.2 and the
//!   capability RFCs);
//! - `stale`: graceful restart (RFC 4724), LLGR (RFC 9494) and enhanced route refresh (RFC 7313)
//!   from the session's side: which families are stale, and their timers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::output::DownReason;
use crate::timer::{Timer, TimerTable};
use crate::types::{ConnId, Direction, FamilySet, Instant};

mod connect;
mod fsm;
mod negotiate;
mod stale;

pub(crate) use fsm::{Ctx, Effect, Identity};
pub(crate) use negotiate::{LocalOffer, RemoteOpen, negotiate};
pub(crate) use stale::RestartExpiry;

/// Test set-up: runs `f` on `s` in a context of its own (peer 0, time zero, a fresh timer queue), for the
/// transitions' unit tests in this module's files.
#[cfg(test)]
fn with_cx<R>(s: &mut Session, f: impl FnOnce(&mut Session, &mut Ctx<'_>) -> R) -> R {
    let (mut q, mut j) = (crate::timer::TimerQueue::default(), crate::timer::Jitter::new(7));
    let mut cx = Ctx {
        peer: crate::types::PeerId::new(0, 0),
        now: Instant::ZERO,
        timers: &mut q,
        jitter: &mut j,
    };
    f(s, &mut cx)
}

/// Session states (RFC 4271 section 8.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum State {
    /// Idle: refusing connections (stopped, or waiting out the idle hold timer).
    Idle,
    /// Connect: an outbound TCP connection is being set up.
    Connect,
    /// Active: listening for the peer (passive, or after a failed connection).
    Active,
    /// OpenSent: our OPEN is sent, waiting for the peer's.
    OpenSent,
    /// OpenConfirm: OPENs exchanged, waiting for KEEPALIVE.
    OpenConfirm,
    /// Established: UPDATEs flow.
    Established,
}

/// FSM events, numbered as in RFC 4271 section 8.1 (the subset that exists in a sans-I/O engine;
/// the rest are handled by the daemon's socket layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Event 1: ManualStart (peer added or re-enabled).
    ManualStart,
    /// Event 2: ManualStop (peer removed, shut down).
    ManualStop,
    /// Event 4: ManualStart_with_PassiveTcpEstablishment.
    ManualStartPassive,
    /// Event 9: ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10: HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11: KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 13: IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// Event 16/17: Tcp_CR_Acked / TcpConnectionConfirmed (outbound / inbound connection up).
    TcpConnectionUp,
    /// Event 18: TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19: BGPOpen.
    BgpOpen,
    /// Event 21: BGPHeaderErr.
    BgpHeaderErr,
    /// Event 22: BGPOpenMsgErr.
    BgpOpenMsgErr,
    /// Event 23: OpenCollisionDump.
    OpenCollisionDump,
    /// Event 24: NotifMsgVerErr.
    NotifMsgVerErr,
    /// Event 25: NotifMsg.
    NotifMsg,
    /// Event 26: KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27: UpdateMsg.
    UpdateMsg,
    /// Event 28: UpdateMsgErr.
    UpdateMsgErr,
}

/// Graceful restart information a peer advertised (RFC 4724 section 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerGr {
    /// Restart State (R) bit: the peer has just restarted.
    pub restarting: bool,
    /// Restart Time in seconds.
    pub restart_time: u16,
    /// Families the peer listed.
    pub families: FamilySet,
    /// Families whose forwarding state the peer preserved (F bit).
    pub forwarding: FamilySet,
}

/// The outcome of the OPEN exchange (held by OpenConfirm and Established).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Peer's BGP identifier.
    pub remote_router_id: Ipv4Addr,
    /// Peer's AS.
    pub remote_as: u32,
    /// Negotiated hold time (the smaller of the two; zero disables keepalives and the hold timer).
    pub hold_time: Duration,
    /// Keepalive interval in force.
    pub keepalive: Duration,
    /// Families both sides support.
    pub families: FamilySet,
    /// Both sent 4-octet AS.
    pub four_octet_as: bool,
    /// Peer supports route refresh.
    pub route_refresh: bool,
    /// Both support enhanced route refresh.
    pub enhanced_route_refresh: bool,
    /// We receive path ids in these families.
    pub add_path_rx: FamilySet,
    /// We send path ids in these families.
    pub add_path_tx: FamilySet,
    /// Both support extended messages.
    pub extended_messages: bool,
    /// Peer's GR capability (we act as helper when GR is enabled locally).
    pub peer_gr: Option<PeerGr>,
    /// Peer's LLGR capability when both sides offered it.
    pub peer_llgr: Option<(FamilySet, u32)>,
    /// The decode context of these parameters, built once and shared ([`Negotiated::decode_ctx`]).
    pub(crate) decode: std::sync::Arc<bgp_wire::DecodeCtx>,
}

/// Per-connection FSM state with only the data each state needs.
#[derive(Clone, Debug)]
enum ConnState {
    /// Outbound TCP connection requested, not yet up (Connect).
    Connecting,
    /// TCP up, OPEN sent (OpenSent). Holds what we offered.
    OpenSent { offer: LocalOffer },
    /// OPENs exchanged (OpenConfirm). Holds the negotiated parameters.
    OpenConfirm { neg: Box<Negotiated> },
    /// Established.
    Established { neg: Box<Negotiated> },
}

impl ConnState {
    pub(crate) fn state(&self) -> State {
        match self {
            ConnState::Connecting => State::Connect,
            ConnState::OpenSent { .. } => State::OpenSent,
            ConnState::OpenConfirm { .. } => State::OpenConfirm,
            ConnState::Established { .. } => State::Established,
        }
    }
}

/// One TCP connection and its FSM (RFC 4271 section 8: one FSM per connection while a collision
/// is unresolved).
#[derive(Debug)]
struct Conn {
    id: ConnId,
    dir: Direction,
    state: ConnState,
    timers: TimerTable,
    local_addr: Option<IpAddr>,
}

/// One peer's session: its connections and their FSMs, the peer's timers, the negotiated
/// parameters, and the graceful-restart and route-refresh state that outlives a connection.
#[derive(Debug)]
pub(crate) struct Session {
    /// ManualStart (Event 1/4) given and no ManualStop (Event 2) since.
    enabled: bool,
    /// At most two: an outbound and an inbound one while a collision is unresolved.
    conns: Vec<Conn>,
    /// The peer's own timers (ConnectRetry, IdleHold, GR, LLGR, refresh); connections keep theirs.
    timers: TimerTable,
    /// Negotiated parameters of the current (or, for stale routes, last) session.
    neg: Option<Box<Negotiated>>,
    /// The connection carrying the Established session, and since when.
    established: Option<(ConnId, Instant)>,
    /// Our address on the Established connection.
    local_addr: Option<IpAddr>,
    /// The peer's BGP identifier on the last session.
    remote_router_id: Ipv4Addr,
    /// Why the last session ended (or the last pre-Established connection failed with a
    /// NOTIFICATION), and when.
    last_down: Option<DownReason>,
    last_down_at: Option<Instant>,
    /// Families whose routes are retained stale after the session went down (RFC 4724).
    gr_stale: FamilySet,
    /// Families in the long-lived stale phase (RFC 9494).
    llgr_stale: FamilySet,
    /// Families between BoRR and EoRR (RFC 7313).
    refresh_stale: FamilySet,
    /// Families whose End-of-RIB arrived on this session (RFC 4724 section 2).
    eor_received: FamilySet,
    /// The last FSM event (introspection).
    last_event: Option<Event>,
    /// Consecutive failed outbound attempts (the retry backoff, `PeerConfig::retry_delay`).
    connect_failures: u32,
}

impl Default for Session {
    fn default() -> Session {
        Session {
            enabled: true,
            conns: Vec::new(),
            timers: TimerTable::default(),
            neg: None,
            established: None,
            local_addr: None,
            remote_router_id: Ipv4Addr::UNSPECIFIED,
            last_down: None,
            last_down_at: None,
            gr_stale: FamilySet::EMPTY,
            llgr_stale: FamilySet::EMPTY,
            refresh_stale: FamilySet::EMPTY,
            eor_received: FamilySet::EMPTY,
            last_event: None,
            connect_failures: 0,
        }
    }
}

impl Session {
    /// The peer's state: the most advanced of its connections'; without a connection Idle when
    /// stopped or waiting out the IdleHoldTimer, else Active.
    pub(crate) fn state(&self) -> State {
        let best = self.conns.iter().map(|c| c.state.state()).max();
        match best {
            Some(s) => s,
            None if !self.enabled || self.timers.get(Timer::IdleHold).is_some() => State::Idle,
            None => State::Active,
        }
    }

    /// ManualStart (Event 1/4) given and no ManualStop (Event 2) since.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Event 1 ManualStart of a stopped session: enabled again. Returns false if it was not
    /// stopped.
    pub(crate) fn start(&mut self) -> bool {
        !std::mem::replace(&mut self.enabled, true)
    }

    /// Records `ev` as the last FSM event (introspection).
    pub(crate) fn record(&mut self, ev: Event) {
        self.last_event = Some(ev);
    }

    /// The last FSM event.
    pub(crate) fn last_event(&self) -> Option<Event> {
        self.last_event
    }

    /// The connection carrying the Established session, and since when.
    pub(crate) fn established(&self) -> Option<(ConnId, Instant)> {
        self.established
    }

    /// The negotiated parameters of the current session or, while its routes are kept stale, of
    /// the last one.
    pub(crate) fn negotiated(&self) -> Option<&Negotiated> {
        self.neg.as_deref()
    }

    /// The negotiated parameters of the Established session (none when not Established).
    pub(crate) fn established_negotiated(&self) -> Option<&Negotiated> {
        self.established.and(self.neg.as_deref())
    }

    /// The peer's BGP identifier on the last session.
    pub(crate) fn remote_router_id(&self) -> Ipv4Addr {
        self.remote_router_id
    }

    /// Our address on the Established connection.
    pub(crate) fn local_addr(&self) -> Option<IpAddr> {
        self.local_addr
    }

    /// Why the last session ended (or a connection failed with a NOTIFICATION before
    /// Established), and when.
    pub(crate) fn last_down(&self) -> (Option<&DownReason>, Option<Instant>) {
        (self.last_down.as_ref(), self.last_down_at)
    }

    /// Consecutive failed outbound attempts.
    pub(crate) fn connect_failures(&self) -> u32 {
        self.connect_failures
    }

    /// Families whose End-of-RIB arrived on this session.
    pub(crate) fn eor_received(&self) -> FamilySet {
        self.eor_received
    }

    /// Every connection's id and state.
    pub(crate) fn conns(&self) -> impl Iterator<Item = (ConnId, State)> + '_ {
        self.conns.iter().map(|c| (c.id, c.state.state()))
    }

    /// The timers of the session (`conn` none) or of its connection `conn`.
    pub(crate) fn timer_table(&self, conn: Option<ConnId>) -> Option<&TimerTable> {
        match conn {
            None => Some(&self.timers),
            Some(c) => self.conn(c).map(|c| &c.timers),
        }
    }

    /// [`Session::timer_table`], to change.
    pub(crate) fn timer_table_mut(&mut self, conn: Option<ConnId>) -> Option<&mut TimerTable> {
        match conn {
            None => Some(&mut self.timers),
            Some(c) => self.conn_mut(c).map(|c| &mut c.timers),
        }
    }

    /// The negotiated parameters of connection `conn` once the OPENs are exchanged (OpenConfirm
    /// or Established).
    pub(crate) fn conn_negotiated(&self, conn: ConnId) -> Option<&Negotiated> {
        match &self.conn(conn)?.state {
            ConnState::OpenConfirm { neg } | ConnState::Established { neg } => Some(neg),
            _ => None,
        }
    }

    /// Event 16 Tcp_CR_Acked: our outbound connection `conn`, from `local_addr`, is up. Returns
    /// false if it was not waiting for that (then nothing changes).
    pub(crate) fn connected(&mut self, conn: ConnId, local_addr: Option<IpAddr>) -> bool {
        match self.conn_mut(conn) {
            Some(c) if matches!(c.state, ConnState::Connecting) => {
                c.local_addr = local_addr;
                true
            }
            Some(_) => false,
            // Unknown connection: as before the split, OpenSent is tried (and finds nothing).
            None => true,
        }
    }

    /// Test set-up: the peer's BGP identifier.
    #[cfg(test)]
    pub(crate) fn set_remote_router_id(&mut self, router_id: Ipv4Addr) {
        self.remote_router_id = router_id;
    }

    /// Test set-up: an Established session on `conn` with a peer whose identifier is `router_id`.
    #[cfg(test)]
    pub(crate) fn set_established(&mut self, conn: ConnId, at: Instant, router_id: Ipv4Addr) {
        self.established = Some((conn, at));
        self.remote_router_id = router_id;
    }

    /// The connection `id`.
    fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    /// The connection `id`, to change.
    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }
}
