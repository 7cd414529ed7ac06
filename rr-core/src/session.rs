//! The BGP session finite state machine (RFC 4271 section 8): states, events, and OPEN
//! negotiation. A state holds only its own data: `OpenSent` what we offered, `OpenConfirm` and
//! `Established` the negotiated session.
//!
//! The engine keeps one connection state per TCP connection (RFC 4271 section 8: "one FSM per
//! connection" while a collision is unresolved) and derives the peer's [`State`] from them.

use bgp_wire::notification::open as open_err;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::output::DownReason;
use crate::timer::{Timer, TimerTable};
use crate::types::{ConnId, Direction, FamilySet, Instant};

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

/// What a peer's OPEN carried, reduced to what the engine negotiates on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteOpen {
    /// BGP version (must be 4).
    pub version: u8,
    /// AS from the 4-octet AS capability if present, else the 2-octet My AS field.
    pub asn: u32,
    /// Hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Multiprotocol families (RFC 4760); `None` if no MP capability was sent (IPv4 unicast implied).
    pub mp_families: Option<FamilySet>,
    /// Route refresh (RFC 2918, code 2 or the old 128).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// 4-octet AS capability present (RFC 6793).
    pub four_octet_as: bool,
    /// ADD-PATH: families the peer can send path ids for.
    pub add_path_send: FamilySet,
    /// ADD-PATH: families the peer can receive path ids for.
    pub add_path_receive: FamilySet,
    /// Graceful restart capability.
    pub graceful_restart: Option<PeerGr>,
    /// LLGR capability: families and the smallest stale time listed (RFC 9494).
    pub llgr: Option<(FamilySet, u32)>,
    /// Extended message capability (RFC 8654).
    pub extended_messages: bool,
}

impl Default for RemoteOpen {
    fn default() -> Self {
        RemoteOpen {
            version: 4,
            asn: 0,
            hold_time: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            mp_families: None,
            route_refresh: false,
            enhanced_route_refresh: false,
            four_octet_as: false,
            add_path_send: FamilySet::EMPTY,
            add_path_receive: FamilySet::EMPTY,
            graceful_restart: None,
            llgr: None,
            extended_messages: false,
        }
    }
}

/// What we offered in our OPEN (kept by the OpenSent state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalOffer {
    /// Our AS on the session.
    pub asn: u32,
    /// Hold time proposed, seconds.
    pub hold_time: u16,
    /// Families offered.
    pub families: FamilySet,
    /// ADD-PATH send offered for these families.
    pub add_path_send: FamilySet,
    /// ADD-PATH receive offered for these families.
    pub add_path_receive: FamilySet,
    /// Extended messages offered.
    pub extended_messages: bool,
    /// GR restart time offered, if GR is enabled.
    pub gr_restart_time: Option<u16>,
    /// Restart State bit of the GR capability: we are a restarting speaker still deferring route
    /// selection (RFC 4724 section 4.1).
    pub gr_restarting: bool,
    /// Forwarding State bit of every family of the GR capability (RFC 4724 section 3).
    pub gr_forwarding: bool,
    /// LLGR stale time offered.
    pub llgr_stale_time: Option<u32>,
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

/// An OPEN rejected: the NOTIFICATION (code 2, subcode) to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpenReject {
    pub(crate) subcode: u8,
}

/// RFC 4271 section 6.2 checks and capability negotiation.
pub(crate) fn negotiate(
    local: &LocalOffer,
    our_router_id: Ipv4Addr,
    expected_as: u32,
    keepalive_cfg: Option<Duration>,
    remote: &RemoteOpen,
) -> Result<Negotiated, OpenReject> {
    // RFC 4271 6.2: "If the version number in the Version field of the received OPEN message is not
    // supported, then the Error Subcode MUST be set to Unsupported Version Number."
    if remote.version != 4 {
        return Err(OpenReject {
            subcode: open_err::UNSUPPORTED_VERSION_NUMBER,
        });
    }
    // "If the Autonomous System field of the OPEN message is unacceptable, then the Error Subcode
    // MUST be set to Bad Peer AS."
    if remote.asn != expected_as {
        return Err(OpenReject {
            subcode: open_err::BAD_PEER_AS,
        });
    }
    // "If the BGP Identifier field of the OPEN message is syntactically incorrect, then the Error
    // Subcode MUST be set to Bad BGP Identifier." (RFC 6286: non-zero; for iBGP, distinct from ours.)
    if remote.router_id.is_unspecified() || (remote.asn == local.asn && remote.router_id == our_router_id) {
        return Err(OpenReject {
            subcode: open_err::BAD_BGP_IDENTIFIER,
        });
    }
    // "An implementation MUST reject Hold Time values of one or two seconds."
    if remote.hold_time == 1 || remote.hold_time == 2 {
        return Err(OpenReject {
            subcode: open_err::UNACCEPTABLE_HOLD_TIME,
        });
    }
    let hold = local.hold_time.min(remote.hold_time);
    let hold_time = Duration::from_secs(u64::from(hold));
    let keepalive = if hold == 0 {
        Duration::ZERO
    } else {
        keepalive_cfg.map_or(hold_time / 3, |k| {
            k.min(hold_time / 3).max(Duration::from_secs(1))
        })
    };
    // RFC 4760 section 8: without the MP capability the peer supports IPv4 unicast only.
    let remote_fams = remote
        .mp_families
        .unwrap_or(FamilySet::only(crate::types::Family::Ipv4Unicast));
    let families = local.families.intersect(remote_fams);
    let mut neg = Negotiated {
        remote_router_id: remote.router_id,
        remote_as: remote.asn,
        hold_time,
        keepalive,
        families,
        four_octet_as: remote.four_octet_as,
        route_refresh: remote.route_refresh || remote.enhanced_route_refresh,
        enhanced_route_refresh: remote.enhanced_route_refresh,
        // RFC 7911 section 4: receive when we offered receive and the peer offered send.
        add_path_rx: local
            .add_path_receive
            .intersect(remote.add_path_send)
            .intersect(families),
        add_path_tx: local
            .add_path_send
            .intersect(remote.add_path_receive)
            .intersect(families),
        extended_messages: local.extended_messages && remote.extended_messages,
        peer_gr: if local.gr_restart_time.is_some() {
            remote.graceful_restart
        } else {
            None
        },
        peer_llgr: if local.llgr_stale_time.is_some() && local.gr_restart_time.is_some() {
            remote.llgr
        } else {
            None
        },
        decode: std::sync::Arc::default(),
    };
    neg.decode = std::sync::Arc::new(neg.build_decode_ctx());
    Ok(neg)
}

/// Per-connection FSM state with only the data each state needs.
#[derive(Clone, Debug)]
pub(crate) enum ConnState {
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
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) dir: Direction,
    pub(crate) state: ConnState,
    pub(crate) timers: TimerTable,
    pub(crate) local_addr: Option<IpAddr>,
}

/// One peer's session: its connections and their FSMs, the peer's timers, the negotiated
/// parameters, and the graceful-restart and route-refresh state that outlives a connection.
#[derive(Debug)]
pub(crate) struct Session {
    /// ManualStart (Event 1/4) given and no ManualStop (Event 2) since.
    pub(crate) enabled: bool,
    /// At most two: an outbound and an inbound one while a collision is unresolved.
    pub(crate) conns: Vec<Conn>,
    /// The peer's own timers (ConnectRetry, IdleHold, GR, LLGR, refresh); connections keep theirs.
    pub(crate) timers: TimerTable,
    /// Negotiated parameters of the current (or, for stale routes, last) session.
    pub(crate) neg: Option<Box<Negotiated>>,
    /// The connection carrying the Established session, and since when.
    pub(crate) established: Option<(ConnId, Instant)>,
    /// Our address on the Established connection.
    pub(crate) local_addr: Option<IpAddr>,
    /// The peer's BGP identifier on the last session.
    pub(crate) remote_router_id: Ipv4Addr,
    /// Why the last session ended (or the last pre-Established connection failed with a
    /// NOTIFICATION), and when.
    pub(crate) last_down: Option<DownReason>,
    pub(crate) last_down_at: Option<Instant>,
    /// Families whose routes are retained stale after the session went down (RFC 4724).
    pub(crate) gr_stale: FamilySet,
    /// Families in the long-lived stale phase (RFC 9494).
    pub(crate) llgr_stale: FamilySet,
    /// Families between BoRR and EoRR (RFC 7313).
    pub(crate) refresh_stale: FamilySet,
    /// Families whose End-of-RIB arrived on this session (RFC 4724 section 2).
    pub(crate) eor_received: FamilySet,
    /// The last FSM event (introspection).
    pub(crate) last_event: Option<Event>,
    /// Consecutive failed outbound attempts (the retry backoff, `PeerConfig::retry_delay`).
    pub(crate) connect_failures: u32,
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

    /// The connection `id`.
    pub(crate) fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    /// The connection `id`, to change.
    pub(crate) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;

    fn offer() -> LocalOffer {
        LocalOffer {
            asn: 64512,
            hold_time: 90,
            families: FamilySet::both(),
            add_path_send: FamilySet::both(),
            add_path_receive: FamilySet::EMPTY,
            extended_messages: true,
            gr_restart_time: Some(120),
            gr_restarting: false,
            gr_forwarding: true,
            llgr_stale_time: None,
        }
    }
    fn remote() -> RemoteOpen {
        RemoteOpen {
            version: 4,
            asn: 64512,
            hold_time: 30,
            router_id: "10.0.0.2".parse().unwrap(),
            mp_families: Some(FamilySet::only(Family::Ipv4Unicast)),
            four_octet_as: true,
            add_path_receive: FamilySet::only(Family::Ipv4Unicast),
            ..RemoteOpen::default()
        }
    }
    const ME: &str = "10.0.0.1";

    #[test]
    fn negotiates_min_hold_and_families_and_add_path() {
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &remote()).unwrap();
        assert_eq!(n.hold_time, Duration::from_secs(30));
        assert_eq!(n.keepalive, Duration::from_secs(10));
        assert_eq!(n.families, FamilySet::only(Family::Ipv4Unicast));
        assert_eq!(n.add_path_tx, FamilySet::only(Family::Ipv4Unicast));
        assert!(n.add_path_rx.is_empty());
        assert!(!n.extended_messages);
    }

    #[test]
    fn rejects_with_rfc_subcodes() {
        let me = ME.parse().unwrap();
        let mut r = remote();
        r.version = 3;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::UNSUPPORTED_VERSION_NUMBER
            })
        );
        let mut r = remote();
        r.asn = 1;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::BAD_PEER_AS
            })
        );
        let mut r = remote();
        r.router_id = me;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::BAD_BGP_IDENTIFIER
            })
        );
        let mut r = remote();
        r.hold_time = 2;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::UNACCEPTABLE_HOLD_TIME
            })
        );
    }

    #[test]
    fn zero_hold_time_disables_keepalive() {
        let mut r = remote();
        r.hold_time = 0;
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &r).unwrap();
        assert_eq!(n.keepalive, Duration::ZERO);
    }

    #[test]
    fn no_mp_capability_means_ipv4_unicast() {
        let mut r = remote();
        r.mp_families = None;
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &r).unwrap();
        assert_eq!(n.families, FamilySet::only(Family::Ipv4Unicast));
    }
}
