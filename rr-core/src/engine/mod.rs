//! The engine: owns every peer (its [`Session`], [`crate::session`]), the RIB (the Adj-RIBs-In
//! and the Loc-RIB, [`crate::rib`]) and the update groups ([`crate::group`]), and carries out what
//! a session's transitions ask for on the rest (`effects`, `handlers`). Sans-I/O: events come in
//! through `handle_*` with the current time, actions go out through [`Engine::poll_output`], and
//! [`Engine::poll_timeout`] says when to call [`Engine::handle_timeout`] next.
//!
//! Work is batched: UPDATEs only change the RIB, which marks their prefixes changed; best path,
//! reflection and encoding run once per batch in [`Engine::flush`], which `poll_output` calls when
//! its queue is empty. A caller that feeds every message it has before draining outputs therefore
//! gets one packed set of UPDATEs per batch, encoded once per update group.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_wire::Community;
use bytes::Bytes;

use crate::attrs::{Interner, RouteAttrs};
use crate::config::{EngineConfig, PeerConfig, Role};
use crate::encode;
use crate::group::Groups;
use crate::output::{DownReason, Output};
use crate::peers::Peers;
use crate::pmap::PrefixMap;
use crate::reflect;
use crate::rib::{REJECTED, Rib, STALE_ANY, STALE_GR, STALE_LLGR, STALE_REFRESH};
use crate::session::{Event, LocalOffer, Negotiated, RemoteOpen, RestartExpiry, Session, State};
use crate::timer::{Jitter, Timer, TimerKey, TimerQueue};
use crate::types::{ConnId, Family, FamilySet, Instant, PeerId, Prefix, PrefixFamily};
use crate::wire::Notification;

mod deferral;
mod effects;
mod groups;
mod handlers;
mod import;
mod local;
mod queue;

pub use local::OriginateError;
pub(crate) use queue::OutQueue;

pub(crate) use import::peer_kind;

/// NOTIFICATION codes and subcodes, declared once in the codec (RFC 4271 section 4.5, RFC 4486,
/// RFC 6608).
pub(crate) mod notif {
    pub(crate) use bgp_wire::notification::{cease, code, fsm};
}

/// Errors from configuration calls.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Another peer already uses this address.
    #[error("a peer with address {0} already exists")]
    DuplicateAddress(IpAddr),
    /// No such peer.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// Hold time of 1 or 2 seconds (RFC 4271 section 4.2).
    #[error("hold time must be 0 or at least 3 seconds")]
    HoldTime,
    /// Router id 0.0.0.0 or AS 0.
    #[error("router id 0.0.0.0 and AS 0 cannot be used")]
    Identity,
    /// The peer table is full ([`PeerId::SLOT_BITS`] bits of slots).
    #[error("too many peers")]
    TooManyPeers,
}

/// An UPDATE reduced to what the RIB needs (built from `bgp_wire::Update`).
#[derive(Clone, Debug, Default)]
pub(crate) struct InUpdate {
    pub(crate) withdrawn: Vec<(Prefix, u32)>,
    pub(crate) announced: Vec<(Prefix, u32)>,
    pub(crate) attrs: Option<RouteAttrs>,
    /// End-of-RIB marker for this family (RFC 4724 section 2).
    pub(crate) end_of_rib: Option<Family>,
}

/// Counters kept per peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// UPDATE messages received.
    pub updates_received: u64,
    /// Messages sent to the peer (all types, counting each group message once per member). With
    /// fan-outs held ([`Engine::set_hold_fan_out`]) a group message counts when the member takes it
    /// (released, or queued ahead of its other output), as seen at the engine's next poll.
    pub messages_sent: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Paths ignored by loop detection.
    pub looped_paths: u64,
    /// UPDATEs treated as withdraw (RFC 7606).
    pub treat_as_withdraw: u64,
}

/// A configured peer: its session (RFC 4271 section 8, [`Session`]) and what the engine keeps
/// beside it. Its Adj-RIB-In is in the [`Rib`].
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) cfg: PeerConfig,
    /// Connections, timers and negotiated state.
    pub(crate) session: Session,
    pub(crate) stats: PeerStats,
    /// The route-selection deferral no longer waits for this peer (End-of-RIB received, or
    /// excluded by RFC 4724 section 4.1).
    pub(crate) deferral_settled: bool,
}

impl Peer {
    /// A new peer, enabled, with no connection and no routes.
    pub(crate) fn new(id: PeerId, cfg: PeerConfig) -> Peer {
        Peer {
            id,
            cfg,
            session: Session::default(),
            stats: PeerStats::default(),
            deferral_settled: false,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.session.state()
    }

    pub(crate) fn local_as(&self, engine_as: u32) -> u32 {
        self.cfg.local_as.unwrap_or(engine_as)
    }

    pub(crate) fn is_ebgp(&self) -> bool {
        self.cfg.role == Role::Ebgp
    }
}

/// Public view of one peer for introspection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Id.
    pub id: PeerId,
    /// Configuration.
    pub config: PeerConfig,
    /// FSM state (the most advanced of its connections).
    pub state: State,
    /// When the session reached Established.
    pub established_since: Option<Instant>,
    /// Negotiated parameters of the current session.
    pub negotiated: Option<Negotiated>,
    /// Paths in the Adj-RIB-In.
    pub prefixes_received: usize,
    /// Paths advertised to this peer: its update group's Adj-RIB-Out less the peer's own routes (never
    /// sent back to it).
    pub prefixes_advertised: usize,
    /// [`PeerInfo::prefixes_received`] per family, indexed by [`crate::Family::index`].
    pub received_by_family: [usize; 2],
    /// Paths of the Adj-RIB-In that are candidates in the Loc-RIB, per family ([`crate::Family::index`]).
    pub accepted_by_family: [usize; 2],
    /// [`PeerInfo::prefixes_advertised`] per family ([`crate::Family::index`]).
    pub advertised_by_family: [usize; 2],
    /// Paths kept stale (GR, LLGR or enhanced route refresh).
    pub prefixes_stale: usize,
    /// Why the last session ended, or the last connection that failed with a NOTIFICATION before
    /// Established.
    pub last_down: Option<DownReason>,
    /// When [`Self::last_down`] happened.
    pub last_down_at: Option<Instant>,
    /// Update group index, if established.
    pub update_group: Option<usize>,
    /// Counters.
    pub stats: PeerStats,
    /// The last FSM event (RFC 4271 numbering in [`Event`]).
    pub last_event: Option<Event>,
    /// Consecutive failed outbound connection attempts (0 once the peer connected or was reconfigured).
    pub connect_failures: u32,
}

/// Public view of one path of a prefix.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PathInfo {
    /// Peer it was learned from.
    pub peer: PeerId,
    /// Path id it was received with (0 without ADD-PATH).
    pub path_id: u32,
    /// Attributes.
    pub attrs: Arc<RouteAttrs>,
    /// Selected as best.
    pub best: bool,
    /// Stale (graceful restart, LLGR or enhanced route refresh).
    pub stale: bool,
}

/// Public view of one Loc-RIB prefix.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The prefix.
    pub prefix: Prefix,
    /// Paths, best first.
    pub paths: Vec<PathInfo>,
    /// The step that made the best path win against the runner-up.
    pub deciding_step: crate::best_path::Step,
}

/// Estimated heap bytes held by the RIBs (hash tables sized from their capacity, plus the
/// out-of-line path lists of multi-path prefixes). Attribute sets are counted once, shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RibMemory {
    /// Paths stored in all Adj-RIBs-In.
    pub paths_in: usize,
    /// Bytes of all Adj-RIBs-In (with the attributes as received of paths an import policy modified).
    pub adj_rib_in: usize,
    /// Bytes of the Loc-RIB.
    pub loc_rib: usize,
    /// Bytes of all update groups' Adj-RIBs-Out.
    pub adj_rib_out: usize,
    /// Distinct interned attribute sets.
    pub attr_sets: usize,
    /// Bytes of the interned attribute sets (struct plus inline vectors, approximate).
    pub attrs: usize,
}

/// The sans-I/O BGP route reflection engine.
///
/// # The way in
///
/// Every input is a call with the current time: configuration ([`Engine::add_peer`] and the
/// other peer calls), transport events ([`Engine::handle_incoming`], [`Engine::handle_connected`],
/// [`Engine::handle_connect_failed`], [`Engine::handle_disconnected`]), timers
/// ([`Engine::handle_timeout`] when [`Engine::poll_timeout`] says), and one way in for each
/// received message: [`Engine::handle_received`], the decoded message with its RFC 7606 outcome
/// ([`crate::Received`]). [`Engine::handle_frame`] is the same after decoding the frame with the
/// connection's context.
///
/// # The way out
///
/// [`Engine::poll_output`] until `None` drains everything: the queued actions (session traffic,
/// connections to open and close, session events), then the route changes of every event fed so
/// far (best path, reflection, update-group encoding, [`Output::LocRibChanged`]: a *flush*), then
/// the members catching up on their group's table. That is the whole contract for most callers.
///
/// Batching: route changes are not encoded as events arrive but at the flush, once per update
/// group. A caller that feeds every message it has read before it drains the outputs therefore
/// sends one packed set of UPDATEs per batch instead of one per message. Nothing is lost by
/// draining early; the batches are only smaller.
///
/// A caller with flow control or a batch interval of its own takes the same outputs in three
/// parts instead (what rr-daemon does), and must call all three:
/// - [`Engine::poll_queued`]: the queued actions only, never a flush (send them at once);
/// - [`Engine::flush`] when its interval has passed and [`Engine::has_pending_changes`] says
///   there is work; the UPDATEs it encodes are then returned by `poll_queued`;
/// - [`Engine::poll_catch_up`] while its connections have room: the queued actions first, then
///   one message (or a run of several, in one `Bytes`) at a time of the members catching up.
///
/// `poll_output` is exactly: a flush when the queue is empty, then `poll_catch_up`.
///
/// ```
/// use rr_core::{Engine, EngineConfig, Instant, Output, PeerConfig, Role};
/// let mut e = Engine::new(EngineConfig::new("192.0.2.1".parse().unwrap(), 64512));
/// let now = Instant::ZERO;
/// let peer = e.add_peer(now, PeerConfig::new("192.0.2.2".parse().unwrap(), 64512, Role::RrClient)).unwrap();
/// // Not passive: the engine asks for a TCP connection right away.
/// match e.poll_output() {
///     Some(Output::Connect { peer: p, remote_addr, .. }) => {
///         assert_eq!(p, peer);
///         assert_eq!(remote_addr.to_string(), "192.0.2.2");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) cluster_id: Ipv4Addr,
    /// Every configured peer, by id, address and connection.
    pub(crate) peers: Peers,
    pub(crate) interner: Interner,
    /// Interner size above which the next flush checks for dead attribute sets.
    interner_check_at: usize,
    /// The RFC 4271 defaults, for connections without negotiated parameters.
    default_decode_ctx: Arc<bgp_wire::DecodeCtx>,
    /// The Adj-RIBs-In, the routes this speaker originates and the Loc-RIB.
    pub(crate) rib: Rib,
    pub(crate) groups: Groups,
    pub(crate) out: queue::OutQueue,
    jitter: Jitter,
    /// Every armed peer and connection timer by deadline.
    timerq: TimerQueue,
    pub(crate) now: Instant,
    /// Route-selection deferral after a (re)start (RFC 4724 section 4.1).
    pub(crate) deferral: deferral::Deferral,
    /// The best paths last reported by [`Output::LocRibChanged`]; `None` while not asked for.
    reported: Option<PrefixMap<local::Reported>>,
}

impl Engine {
    /// A new engine with no peers.
    pub fn new(cfg: EngineConfig) -> Engine {
        Engine {
            cluster_id: cfg.effective_cluster_id(),
            jitter: Jitter::new(cfg.rng_seed),
            deferral: deferral::Deferral::new(&cfg),
            cfg,
            peers: Peers::default(),
            interner: Interner::default(),
            interner_check_at: 1024,
            default_decode_ctx: Arc::default(),
            rib: Rib::default(),
            groups: Groups::default(),
            out: queue::OutQueue::default(),
            timerq: TimerQueue::default(),
            reported: None,
            now: Instant::ZERO,
        }
    }

    /// The engine configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Whether `conn` negotiated 4-octet AS (false before OpenConfirm).
    pub(crate) fn conn_four_octet(&self, conn: ConnId) -> bool {
        self.conn_neg(conn).is_some_and(|n| n.four_octet_as)
    }

    /// The context to decode `conn`'s messages with: the negotiated one once the OPENs are
    /// exchanged, the RFC 4271 defaults before (enough for OPEN, KEEPALIVE and NOTIFICATION).
    /// Shared: cloning it is a reference count.
    pub fn decode_ctx(&self, conn: ConnId) -> Arc<bgp_wire::DecodeCtx> {
        self.conn_neg(conn)
            .map_or_else(|| Arc::clone(&self.default_decode_ctx), |n| n.decode_ctx())
    }

    pub(crate) fn peer_of_conn(&self, conn: ConnId) -> Option<PeerId> {
        self.peers.by_conn(conn)
    }

    fn conn_neg(&self, conn: ConnId) -> Option<&Negotiated> {
        let id = self.peers.by_conn(conn)?;
        self.peer(id)?.session.conn_negotiated(conn)
    }

    fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    pub(crate) fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id)
    }

    pub(crate) fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(id)
    }

    /// Slots in the peer table (live peers plus free slots waiting for reuse): at most the largest
    /// number of peers configured at once.
    pub fn peer_slots(&self) -> usize {
        self.peers.slots()
    }

    // ---------------------------------------------------------------- configuration

    /// Adds a peer and starts it (RFC 4271 Event 1 ManualStart, or Event 4 when passive).
    pub fn add_peer(&mut self, now: Instant, cfg: PeerConfig) -> Result<PeerId, ConfigError> {
        self.tick(now);
        if self.peers.by_addr(cfg.remote_addr).is_some() {
            return Err(ConfigError::DuplicateAddress(cfg.remote_addr));
        }
        let hold = cfg.hold_time.as_secs();
        if hold == 1 || hold == 2 {
            return Err(ConfigError::HoldTime);
        }
        // RFC 6286 / RFC 7607: the BGP identifier is non-zero and AS 0 is not usable.
        if self.cfg.router_id.is_unspecified() || cfg.local_as.unwrap_or(self.cfg.local_as) == 0 {
            return Err(ConfigError::Identity);
        }
        // A removed peer's slot is reused (oldest first, so that a stale id stays refused as long as
        // possible); its id carries the next generation.
        let id = self
            .peers
            .insert(|id| Peer::new(id, cfg))
            .ok_or(ConfigError::TooManyPeers)?;
        self.deferral_start();
        self.fsm_start(id);
        Ok(id)
    }

    /// Changes a peer's configuration. Changes that alter the session (AS, role, families,
    /// ADD-PATH, hold time, address, next hop mode) reset it with Cease "Other Configuration
    /// Change" (RFC 4486); others (max prefixes, passive, timers, import and export policy) apply
    /// in place.
    pub fn update_peer(&mut self, now: Instant, id: PeerId, cfg: PeerConfig) -> Result<(), ConfigError> {
        self.tick(now);
        let Some(p) = self.peer(id) else {
            return Err(ConfigError::UnknownPeer(id));
        };
        if cfg.remote_addr != p.cfg.remote_addr && self.peers.by_addr(cfg.remote_addr).is_some() {
            return Err(ConfigError::DuplicateAddress(cfg.remote_addr));
        }
        if matches!(cfg.hold_time.as_secs(), 1 | 2) {
            return Err(ConfigError::HoldTime);
        }
        let old = p.cfg.clone();
        let changed = old != cfg;
        let import_changed = old.import_policy != cfg.import_policy;
        let export_changed = old.export_policy != cfg.export_policy;
        let reset = old.remote_addr != cfg.remote_addr
            || old.remote_as != cfg.remote_as
            || old.local_as != cfg.local_as
            || old.role != cfg.role
            || old.families != cfg.families
            || old.add_path_send_max != cfg.add_path_send_max
            || old.add_path_receive != cfg.add_path_receive
            || old.hold_time != cfg.hold_time
            || old.graceful_restart != cfg.graceful_restart
            || old.next_hop != cfg.next_hop
            || old.local_addr != cfg.local_addr
            || old.allow_local_as != cfg.allow_local_as;
        self.peers.set_config(id, cfg);
        // A changed configuration ends the backoff: a peer waiting out a long delay is tried again
        // after the base interval.
        if changed && !reset {
            self.reset_backoff(id);
        }
        if reset {
            let n = Notification {
                code: notif::code::CEASE,
                subcode: notif::cease::OTHER_CONFIGURATION_CHANGE,
                data: Bytes::new(),
            };
            self.drop_all_conns(id, Some(n), false);
            self.fsm_start(id);
        } else {
            // A policy change applies live: the import policy is re-evaluated over the kept
            // Adj-RIB-In, and the peer moves to the update group of its new export policy; only
            // changed outcomes are sent.
            if import_changed {
                self.reapply_import(id);
            }
            if export_changed {
                self.groups_regroup(id);
            }
            self.check_max_prefixes(id, None);
        }
        self.deferral_check();
        Ok(())
    }

    /// Removes a peer: Cease "Peer De-configured" (RFC 4486 subcode 3) on its connections, its
    /// routes withdrawn everywhere.
    pub fn remove_peer(&mut self, now: Instant, id: PeerId) -> Result<(), ConfigError> {
        self.tick(now);
        if self.peer(id).is_none() {
            return Err(ConfigError::UnknownPeer(id));
        }
        let n = Notification {
            code: notif::code::CEASE,
            subcode: notif::cease::PEER_DECONFIGURED,
            data: Bytes::new(),
        };
        self.drop_all_conns(id, Some(n), true);
        self.rib.remove_peer(id);
        self.peers.remove(id);
        self.deferral_check();
        Ok(())
    }

    /// Administratively stops a peer (Event 2 ManualStop): Cease "Administrative Shutdown" with an
    /// optional RFC 9003 shutdown communication; the peer stays Idle until
    /// [`Engine::start_peer`].
    pub fn stop_peer(&mut self, now: Instant, id: PeerId, message: Option<&str>) -> Result<(), ConfigError> {
        self.tick(now);
        let Some(p) = self.peer_mut(id) else {
            return Err(ConfigError::UnknownPeer(id));
        };
        p.session.record(Event::ManualStop);
        p.session.stop();
        let n = shutdown_notification(notif::cease::ADMINISTRATIVE_SHUTDOWN, message);
        self.drop_all_conns(id, Some(n), true);
        self.rib.withdraw_where(id, |_| true);
        self.deferral_check();
        Ok(())
    }

    /// Re-enables a stopped peer (Event 1 ManualStart).
    pub fn start_peer(&mut self, now: Instant, id: PeerId) -> Result<(), ConfigError> {
        self.tick(now);
        let Some(p) = self.peer_mut(id) else {
            return Err(ConfigError::UnknownPeer(id));
        };
        if p.session.start() {
            self.fsm_start(id);
        }
        Ok(())
    }

    /// Resets a peer's session: Cease "Administrative Reset" (RFC 4486 subcode 4) with an optional
    /// RFC 9003 message, then reconnects.
    pub fn reset_peer(&mut self, now: Instant, id: PeerId, message: Option<&str>) -> Result<(), ConfigError> {
        self.tick(now);
        if self.peer(id).is_none() {
            return Err(ConfigError::UnknownPeer(id));
        }
        let n = shutdown_notification(notif::cease::ADMINISTRATIVE_RESET, message);
        self.drop_all_conns(id, Some(n), true);
        self.fsm_start(id);
        Ok(())
    }

    /// Shuts every session down with Cease "Administrative Shutdown" and the RFC 8203/9003
    /// `message`, and stops every peer.
    pub fn shutdown(&mut self, now: Instant, message: Option<&str>) {
        let ids = self.peers.ids();
        for id in ids {
            let _ = self.stop_peer(now, id, message);
        }
    }

    /// Closes every connection without a NOTIFICATION, as a graceful-restart-friendly stop (the
    /// peers keep our routes as stale, RFC 4724).
    pub fn close_all_for_restart(&mut self, now: Instant) {
        self.tick(now);
        let ids = self.peers.ids();
        for id in ids {
            if let Some(p) = self.peer_mut(id) {
                p.session.stop();
            }
            self.drop_all_conns(id, None, true);
        }
    }

    /// Asks the peer to re-send its routes (RFC 2918 ROUTE-REFRESH for each negotiated family).
    /// Returns false if the session is not established or the peer did not advertise route refresh.
    pub fn route_refresh(&mut self, now: Instant, id: PeerId) -> bool {
        self.tick(now);
        let Some(p) = self.peer(id) else { return false };
        let (Some((conn, _)), Some(neg)) = (p.session.established(), p.session.negotiated()) else {
            return false;
        };
        if !neg.route_refresh {
            return false;
        }
        for f in neg.families.iter() {
            self.send(
                id,
                conn,
                encode::route_refresh(f, bgp_wire::RouteRefreshSubtype::NORMAL),
            );
        }
        true
    }

    // ---------------------------------------------------------------- transport events

    /// The peer configured for `remote_addr`, if any.
    pub fn peer_by_addr(&self, remote_addr: IpAddr) -> Option<PeerId> {
        self.peers.by_addr(remote_addr)
    }

    /// An inbound TCP connection from `remote_addr` was accepted (Event 17 TcpConnectionConfirmed).
    /// Returns the connection id, or `None` if the caller must close it (unknown or stopped peer,
    /// or two connections already).
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        remote_addr: IpAddr,
        local_addr: Option<IpAddr>,
    ) -> Option<(PeerId, ConnId)> {
        self.tick(now);
        let id = self.peer_by_addr(remote_addr)?;
        if !self.peer(id)?.session.accepts_inbound() {
            return None;
        }
        let conn = self.peers.new_conn(id);
        self.peer_mut(id)?.session.accepted(conn, local_addr);
        self.conn_up(id, conn);
        Some((id, conn))
    }

    /// Our outbound connection `conn` is up (Event 16 Tcp_CR_Acked).
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId, local_addr: Option<IpAddr>) {
        self.tick(now);
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        if self
            .peer_mut(id)
            .is_some_and(|p| p.session.connected(conn, local_addr))
        {
            self.conn_up(id, conn);
        }
    }

    /// Our outbound connection attempt failed (Event 18 TcpConnectionFails in Connect).
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.peers.remove_conn(conn);
        if let Some(p) = self.peer_mut(id) {
            p.session.connect_failed(conn);
        }
        self.schedule_retry(id, false);
    }

    /// The TCP connection closed or failed (Event 18 TcpConnectionFails).
    pub fn handle_disconnected(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::TcpConnectionFails);
        self.conn_down(id, conn, DownReason::ConnectionLost, None);
    }

    // ---------------------------------------------------------------- timers

    /// The earliest time at which [`Engine::handle_timeout`] must be called. It drops the timer
    /// queue's stale entries on the way: a cost in proportion to the timers stopped or moved since
    /// the last call, not to the number of peers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.timerq.settle(&self.peers);
        match (timers, self.deferral.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every timer due at `now` (in proportion to the timers due, whatever the number of
    /// peers). Timers due together fire by peer, a peer's own timers before its connections'.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.deferral_timer(now);
        // The timers due now, disarmed first and then fired (a timer armed by one of them fires on
        // a later call).
        let mut due: Vec<TimerKey> = Vec::new();
        while self.timerq.settle(&self.peers).is_some_and(|t| t <= now) {
            due.extend(self.timerq.pop_settled(&mut self.peers));
        }
        due.sort_unstable_by_key(TimerKey::fire_order);
        for k in due {
            match k.conn {
                None => self.peer_timer(k.peer, k.timer),
                Some(c) => self.conn_timer(k.peer, c, k.timer),
            }
        }
    }

    fn peer_timer(&mut self, id: PeerId, t: Timer) {
        match t {
            // Event 9 ConnectRetryTimer_Expires / Event 13 IdleHoldTimer_Expires: try again.
            Timer::ConnectRetry | Timer::IdleHold => {
                let stuck = self
                    .peer_mut(id)
                    .map_or_else(Vec::new, |p| p.session.retry_expired(t));
                for c in stuck {
                    self.out.push_back(Output::Close { conn: c });
                    self.remove_conn(id, c);
                }
                self.try_connect(id);
            }
            // RFC 4724 section 4.2: "If the session does not get re-established within the
            // 'Restart Time' that the peer advertised previously, the Receiving Speaker MUST delete
            // all the stale routes from the peer that it is retaining."
            Timer::GrRestart => self.gr_timer_expired(id),
            Timer::LlgrStale => {
                self.rib.withdraw_where(id, |r| r.flags & STALE_LLGR != 0);
                if let Some(p) = self.peer_mut(id) {
                    p.session.llgr_timer_expired();
                }
            }
            // RFC 7313 section 4: stale routes not refreshed before the timer are purged.
            Timer::RefreshStale => {
                self.rib.withdraw_where(id, |r| r.flags & STALE_REFRESH != 0);
                if let Some(p) = self.peer_mut(id) {
                    p.session.refresh_timer_expired();
                }
            }
            Timer::Hold | Timer::Keepalive => {}
        }
    }

    /// Event 10 HoldTimer_Expires / Event 11 KeepaliveTimer_Expires ([`Session::conn_timer_expired`]).
    fn conn_timer(&mut self, id: PeerId, conn: ConnId, t: Timer) {
        let Some((s, mut cx)) = self.session(id) else {
            return;
        };
        if let Some(e) = s.conn_timer_expired(&mut cx, conn, t) {
            self.apply(id, e);
        }
    }

    // ---------------------------------------------------------------- outputs and introspection

    /// The next action for the caller: the one way out (see "The way out" on [`Engine`]). When the
    /// queue is empty, pending RIB changes are flushed first (best path, reflection, update-group
    /// encoding), so draining this until `None` after feeding a batch of events produces one packed
    /// set of UPDATEs; then members catching up are served ([`Engine::poll_catch_up`]).
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            // Give back the memory of a large burst (initial fan-out) once it is drained.
            self.out.shrink_if_drained();
            self.flush();
        }
        self.count_handed();
        self.out.pop_front().or_else(|| self.poll_catch_up())
    }

    /// The next queued action, without flushing pending RIB changes first (unlike
    /// [`Engine::poll_output`]). With [`Engine::has_pending_changes`] and [`Engine::flush`] this lets
    /// a caller send session traffic at once while batching route changes over a short interval.
    pub fn poll_queued(&mut self) -> Option<Output> {
        // Held messages a connection's other output queued ahead of it (see Engine::set_hold_fan_out).
        self.count_handed();
        self.out.pop_front()
    }

    /// Whether a [`Engine::flush`] would have work: changed prefixes, members joining or catching up,
    /// or route refreshes to serve.
    pub fn has_pending_changes(&self) -> bool {
        !self.deferral.is_active() && (self.rib.has_changes() || self.groups.has_pending())
    }

    /// Runs best path and update-group encoding for every prefix changed since the last flush.
    /// Does nothing while route selection is deferred after a start ([`Engine::selection_deferred`]).
    pub fn flush(&mut self) {
        if self.deferral.is_active() {
            return;
        }
        self.report_loc_rib();
        self.groups_flush();
        self.rib.shrink_changed_if_drained();
        if !self.rib.has_changes() {
            self.interner_maybe_collect();
        }
    }

    fn interner_maybe_collect(&mut self) {
        // Collect only when dead entries may dominate, and look only when the interner has doubled
        // since the last look, so that this stays off the hot path (amortised O(1) per flush).
        if self.interner.len() <= self.interner_check_at {
            return;
        }
        if self.interner.len() > self.rib.paths_len() {
            self.interner.collect();
        }
        self.interner_check_at = (self.interner.len() * 2).max(1024);
    }

    /// Every configured peer.
    ///
    /// Costs one pass over the Loc-RIB and one over each update group's Adj-RIB-Out, however many
    /// peers there are (the accepted and stale counts of every peer are gathered in the one pass).
    pub fn peers(&self) -> impl Iterator<Item = PeerInfo> + '_ {
        // Count each group's Adj-RIB-Out once, not once per member (a walk of the whole table).
        let counts = self.groups.adj_out_counts();
        let loc_counts = self.rib.candidates_by_slot(self.peers.slots());
        self.peers.iter().map(move |p| {
            let sent = self
                .groups
                .group_of(p.id)
                .and_then(|g| counts.get(g))
                .map_or([0; 2], |c| c.sent_to(p.id));
            let (accepted, stale) = loc_counts.get(p.id.slot()).copied().unwrap_or_default();
            self.peer_info_with(p, sent, accepted, stale)
        })
    }

    /// One peer.
    pub fn peer_info_of(&self, id: PeerId) -> Option<PeerInfo> {
        let p = self.peer(id)?;
        let sent = self
            .groups
            .group_of(id)
            .map_or([0; 2], |g| self.groups.adj_out_counts_of(g).sent_to(id));
        let (accepted, stale) = self.rib.candidates_of(p.id);
        Some(self.peer_info_with(p, sent, accepted, stale))
    }

    /// The peers `ids`, in that order (ids of removed peers are skipped): [`Engine::peer_info_of`] for each,
    /// except that each update group's Adj-RIB-Out is counted once for them all rather than once per
    /// member, so a page of peers costs one walk per group involved and their Adj-RIBs-In.
    pub fn peer_infos_of(&self, ids: &[PeerId]) -> Vec<PeerInfo> {
        let mut counts: crate::hash::FastMap<usize, crate::group::OutCounts> = Default::default();
        ids.iter()
            .filter_map(|&id| {
                let p = self.peer(id)?;
                let sent = self.groups.group_of(id).map_or([0; 2], |g| {
                    counts
                        .entry(g)
                        .or_insert_with(|| self.groups.adj_out_counts_of(g))
                        .sent_to(id)
                });
                let (accepted, stale) = self.rib.candidates_of(p.id);
                Some(self.peer_info_with(p, sent, accepted, stale))
            })
            .collect()
    }

    fn peer_info_with(
        &self,
        p: &Peer,
        advertised: [usize; 2],
        accepted: [usize; 2],
        stale: usize,
    ) -> PeerInfo {
        let received = self.rib.received_by_family(p.id);
        PeerInfo {
            id: p.id,
            config: p.cfg.clone(),
            state: p.state(),
            established_since: p.session.established().map(|(_, t)| t),
            negotiated: p.session.established_negotiated().cloned(),
            prefixes_received: received[0] + received[1],
            prefixes_advertised: advertised[0] + advertised[1],
            received_by_family: received,
            accepted_by_family: accepted,
            advertised_by_family: advertised,
            prefixes_stale: stale,
            last_down: p.session.last_down().0.cloned(),
            last_down_at: p.session.last_down().1,
            update_group: self.groups.group_of(p.id),
            stats: p.stats,
            last_event: p.session.last_event(),
            connect_failures: p.session.connect_failures(),
        }
    }

    /// Estimated memory held by the RIBs.
    pub fn rib_memory(&self) -> RibMemory {
        let mut m = RibMemory::default();
        (m.paths_in, m.adj_rib_in, m.loc_rib) = self.rib.memory();
        m.adj_rib_out = self.groups.memory();
        m.attr_sets = self.interner.len();
        m.attrs = self.interner.memory();
        m
    }

    /// Number of prefixes in the Loc-RIB (counting those whose only paths the import policy rejected).
    pub fn loc_rib_len(&self) -> usize {
        self.rib.len()
    }

    /// Number of distinct interned attribute sets.
    pub fn attr_sets(&self) -> usize {
        self.interner.len()
    }

    /// The Loc-RIB entry for `prefix`, paths ranked best first with the deciding step.
    ///
    /// It answers from the Loc-RIB as every event fed so far left it, ahead of what peers were
    /// sent: changes reach the peers (and [`Output::LocRibChanged`]) at the next flush
    /// ([`Engine::poll_output`] on an empty queue, or [`Engine::flush`]), and not at all while
    /// route selection is deferred ([`Engine::selection_deferred`]).
    pub fn route(&self, prefix: &Prefix) -> Option<RouteInfo> {
        let paths = self.rib.paths(prefix);
        if paths.is_empty() {
            return None;
        }
        let mut order = Vec::new();
        crate::rib::rank(&self.peers, paths, &mut order);
        if order.is_empty() {
            // Every path was rejected by import policy.
            return None;
        }
        let step = crate::rib::best_step(&self.peers, paths, &order);
        Some(RouteInfo {
            prefix: *prefix,
            paths: order
                .iter()
                .enumerate()
                .map(|(rank, &i)| PathInfo {
                    peer: paths[i].peer,
                    path_id: paths[i].path_id,
                    attrs: Arc::clone(&paths[i].attrs),
                    best: rank == 0,
                    stale: paths[i].flags & STALE_ANY != 0,
                })
                .collect(),
            deciding_step: step,
        })
    }

    /// Every Loc-RIB prefix with a path the import policy accepted (unordered).
    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.rib.prefixes()
    }

    /// One page of the Loc-RIB in [`Prefix`] order (IPv4 before IPv6, then address, then length): the
    /// first `limit` prefixes greater than `after` (from the start when `None`). One pass over the table
    /// and memory for `limit` prefixes, whatever the table's size, so that a caller can walk a large
    /// table in bounded slices, resuming after the last prefix of the previous page. Prefixes that stay
    /// in the table during the walk are seen exactly once.
    ///
    /// ```
    /// # use rr_core::{Engine, EngineConfig};
    /// let e = Engine::new(EngineConfig::new("192.0.2.1".parse().unwrap(), 64512));
    /// assert!(e.prefixes_page(None, 100).is_empty());
    /// ```
    pub fn prefixes_page(&self, after: Option<&Prefix>, limit: usize) -> Vec<Prefix> {
        use std::collections::BinaryHeap;
        if limit == 0 {
            return Vec::new();
        }
        // A max-heap of the `limit` smallest candidates: its top is the one to evict.
        let mut heap: BinaryHeap<Prefix> = BinaryHeap::with_capacity(limit.min(self.rib.len()) + 1);
        for (p, paths) in self.rib.iter() {
            // As `prefixes`: a prefix whose every path the import policy rejected is not listed.
            if !paths.iter().any(|r| r.flags & REJECTED == 0) || after.is_some_and(|a| p <= *a) {
                continue;
            }
            if heap.len() < limit {
                heap.push(p);
            } else if heap.peek().is_some_and(|top| p < *top) {
                heap.pop();
                heap.push(p);
            }
        }
        heap.into_sorted_vec()
    }

    /// The Adj-RIB-In of a peer, before import policy: (prefix, path id, attributes as received,
    /// stale). Paths the import policy rejected are included.
    pub fn adj_rib_in(&self, id: PeerId) -> impl Iterator<Item = (Prefix, u32, &Arc<RouteAttrs>, bool)> + '_ {
        self.rib
            .adj_rib_in(id)
            .map(|(prefix, path_id, attrs, r)| (prefix, path_id, attrs, r.flags & STALE_ANY != 0))
    }

    /// Whether `id`'s import policy accepted the path (`prefix`, `path_id`) of its Adj-RIB-In
    /// (`None`: no such path).
    pub fn import_accepted(&self, id: PeerId, prefix: &Prefix, path_id: u32) -> Option<bool> {
        self.rib
            .path(prefix, id, path_id)
            .map(|r| r.flags & REJECTED == 0)
    }
}

/// Cease with an RFC 8203/9003 shutdown communication (truncated to 255 octets on a character
/// boundary).
fn shutdown_notification(subcode: u8, message: Option<&str>) -> Notification {
    let data = match message {
        None => Bytes::new(),
        Some(m) => {
            let mut end = m.len().min(255);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            let mut v = Vec::with_capacity(end + 1);
            v.push(end as u8);
            v.extend_from_slice(&m.as_bytes()[..end]);
            Bytes::from(v)
        }
    };
    Notification {
        code: notif::code::CEASE,
        subcode,
        data,
    }
}
