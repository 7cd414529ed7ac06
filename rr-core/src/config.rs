//! Engine-wide and per-peer configuration. Generic BGP knobs only: nothing here knows about Calico.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::policy::Policy;
use crate::types::FamilySet;

/// Engine-wide settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Our BGP identifier (RFC 4271 section 4.2).
    pub router_id: Ipv4Addr,
    /// Our cluster id (RFC 4456 section 7); defaults to the router id when `None`.
    pub cluster_id: Option<Ipv4Addr>,
    /// Our autonomous system.
    pub local_as: u32,
    /// Seed for the jitter RNG (RFC 4271 section 10: jitter of timers). Same seed, same schedule.
    pub rng_seed: u64,
    /// Advertise and accept RFC 8654 extended messages (65535-byte messages).
    pub extended_messages: bool,
    /// Delay after a failed or refused session before the next attempt (the RFC's IdleHoldTimer, damping).
    pub idle_hold_time: Duration,
    /// Share one Adj-RIB-Out and one encoding among peers with identical outbound treatment.
    /// `false` gives every peer its own group (for benchmarks and debugging).
    pub update_groups: bool,
    /// The Selection_Deferral_Timer of a restarting speaker (RFC 4724 section 4.1); `None` turns
    /// the deferral off.
    ///
    /// An engine that starts does not know whether its peers still hold its routes from an
    /// earlier run, so it acts as a restarting speaker: from the first configured peer on it
    /// defers best-path selection and every advertisement (the initial tables and their
    /// End-of-RIB included) until every enabled peer with graceful restart configured has either
    /// sent End-of-RIB for each negotiated family, or established without the capability, or with
    /// the Restart State bit set (it is restarting too and waits for us); or until this timer
    /// expires. Peers that have not connected yet count as waited for: a helper that kept our
    /// routes stale flushes whatever our End-of-RIB does not re-announce, so announcing before a
    /// late peer is back would withdraw that peer's routes from everyone else.
    ///
    /// Default 120 s, the restart time the engine advertises ([`GracefulRestartConfig`]): FRR's
    /// `select-defer-time` is 360 s and BIRD's `graceful restart wait` 240 s, but a reflector
    /// holds back every peer's routes, new peers' included, behind a peer that never returns, and
    /// a peer not back within the restart time its helpers grant is treated as gone by them too.
    pub selection_deferral: Option<Duration>,
}

impl EngineConfig {
    /// Defaults for everything but the identity.
    ///
    /// ```
    /// use rr_core::EngineConfig;
    /// let cfg = EngineConfig::new("192.0.2.1".parse().unwrap(), 64512);
    /// assert_eq!(cfg.effective_cluster_id(), cfg.router_id);
    /// ```
    pub fn new(router_id: Ipv4Addr, local_as: u32) -> Self {
        EngineConfig {
            router_id,
            cluster_id: None,
            local_as,
            rng_seed: 0x5eed,
            extended_messages: true,
            idle_hold_time: Duration::from_secs(5),
            update_groups: true,
            selection_deferral: Some(Duration::from_secs(120)),
        }
    }

    /// The cluster id in force (the router id unless configured).
    pub fn effective_cluster_id(&self) -> Ipv4Addr {
        self.cluster_id.unwrap_or(self.router_id)
    }
}

/// How the engine treats a peer (RFC 4456 section 8 terminology).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// An iBGP peer that is a client of this reflector.
    RrClient,
    /// An iBGP peer that is not a client: another reflector of the mesh, or a plain iBGP speaker.
    NonClient,
    /// An external peer (remote AS differs from the local AS of the session).
    Ebgp,
}

/// How NEXT_HOP is set on routes sent to a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NextHopMode {
    /// Our session address towards eBGP peers (RFC 4271 section 5.1.3), unchanged towards iBGP
    /// peers (RFC 4456 section 8: a reflector does not change NEXT_HOP). BIRD's default.
    #[default]
    Auto,
    /// Our session address always, also on routes reflected to iBGP peers ("next hop self").
    SelfAddr,
    /// Unchanged always, also towards eBGP peers ("next hop keep": a third-party next hop, RFC
    /// 4271 section 5.1.3 allows it when the next hop is reachable by the peer).
    Keep,
}

/// Graceful restart helper settings (RFC 4724) and long-lived GR (RFC 9494).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Advertise the GR capability and act as helper for peers that advertise it.
    pub enabled: bool,
    /// The restart time we advertise (seconds, at most 4095).
    pub restart_time: u16,
    /// Advertise LLGR and keep routes of a peer that negotiated LLGR for its stale time after the GR
    /// restart timer expires (RFC 9494).
    pub llgr_stale_time: Option<u32>,
    /// Set the Forwarding State bit for every family in the capability (RFC 4724 section 3).
    ///
    /// A receiving speaker "MUST immediately remove all the stale routes" of a family whose bit is
    /// clear when the session returns (section 4.2), so the bit decides whether a peer keeps our
    /// routes until our End-of-RIB or drops them the moment we reconnect. The engine has no
    /// forwarding plane of its own: routes it passes on keep the next hops of the speakers that
    /// originated them, whose forwarding a restart of the engine does not touch. Default `true`;
    /// an embedder whose restart does disturb the forwarding its routes rely on clears it.
    pub forwarding_state: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            enabled: true,
            restart_time: 120,
            llgr_stale_time: None,
            forwarding_state: true,
        }
    }
}

/// Per-peer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's address: outbound connections go there; inbound ones are matched on it.
    pub remote_addr: IpAddr,
    /// The peer's AS.
    pub remote_as: u32,
    /// Our AS on this session (`None`: the engine's `local_as`).
    pub local_as: Option<u32>,
    /// Reflection role.
    pub role: Role,
    /// Never connect out; wait for the peer (RFC 4271 PassiveTcpEstablishment).
    pub passive: bool,
    /// Hold time we propose (RFC 4271 section 4.2: zero or at least three seconds).
    pub hold_time: Duration,
    /// Keepalive interval; `None` means one third of the negotiated hold time.
    pub keepalive: Option<Duration>,
    /// Connect-retry interval (RFC 4271 ConnectRetryTime, 120 s suggested): the delay after the first
    /// failed outbound attempt, and how long an attempt may stay unanswered.
    pub connect_retry: Duration,
    /// Upper bound of the retry delay. After each consecutive failed outbound attempt (refused,
    /// unreachable, timed out) the delay doubles from `connect_retry` up to this bound, jittered by the
    /// engine's seeded RNG (RFC 4271 section 10), so an absent peer costs one attempt per bound. The
    /// count restarts when the peer connects to us, a session is established, or the configuration
    /// changes. Equal to `connect_retry` (the default): a fixed interval.
    pub connect_retry_max: Duration,
    /// Families we offer.
    pub families: FamilySet,
    /// ADD-PATH send (RFC 7911): `Some(n)` advertises "send" and sends up to `n` paths per prefix
    /// (`usize::MAX` for every path) when the peer can receive; `None` sends the best path only.
    pub add_path_send_max: Option<usize>,
    /// Offer ADD-PATH receive.
    pub add_path_receive: bool,
    /// Maximum number of paths accepted per address family (RFC 4486 Cease subcode 1 when exceeded).
    pub max_prefixes: Option<usize>,
    /// Graceful restart.
    pub graceful_restart: GracefulRestartConfig,
    /// NEXT_HOP on routes sent to this peer.
    pub next_hop: NextHopMode,
    /// Our address on the session for next-hop-self towards eBGP (otherwise the connection's local address).
    pub local_addr: Option<IpAddr>,
    /// How often our AS may appear in the AS_PATH of a route from this eBGP peer before it counts as a loop
    /// (0: not at all, the RFC 4271 default; "allowas-in"). A change resets the session, so that routes
    /// dropped or accepted under the old count are learned again.
    pub allow_local_as: u32,
    /// Policy for routes received from this peer, applied between its Adj-RIB-In and best path. A
    /// change applies live: the Adj-RIB-In is re-evaluated and only changed outcomes are sent.
    pub import_policy: Policy,
    /// Policy for routes sent to this peer, applied after the reflection rules. Part of the
    /// update-group key; a change applies live (the peer moves to the group of its new policy and
    /// is sent only the difference).
    pub export_policy: Policy,
}

impl PeerConfig {
    /// A peer with the usual defaults (hold 90 s, connect retry 120 s without backoff, both unicast
    /// families, GR helper on).
    ///
    /// ```
    /// use rr_core::{PeerConfig, Role};
    /// let p = PeerConfig::new("10.0.0.2".parse().unwrap(), 64512, Role::RrClient);
    /// assert_eq!(p.hold_time.as_secs(), 90);
    /// ```
    pub fn new(remote_addr: IpAddr, remote_as: u32, role: Role) -> Self {
        PeerConfig {
            remote_addr,
            remote_as,
            local_as: None,
            role,
            passive: false,
            hold_time: Duration::from_secs(90),
            keepalive: None,
            connect_retry: Duration::from_secs(120),
            connect_retry_max: Duration::from_secs(120),
            families: FamilySet::both(),
            add_path_send_max: None,
            add_path_receive: true,
            max_prefixes: None,
            graceful_restart: GracefulRestartConfig::default(),
            next_hop: NextHopMode::Auto,
            local_addr: None,
            allow_local_as: 0,
            import_policy: Policy::default(),
            export_policy: Policy::default(),
        }
    }

    /// The delay before the next outbound attempt after `failures` consecutive failed ones (at least
    /// one): `connect_retry` doubled per further failure, capped at `connect_retry_max` (never below
    /// `connect_retry`). Jitter is applied by the engine on top.
    ///
    /// ```
    /// use rr_core::{PeerConfig, Role};
    /// use std::time::Duration;
    /// let mut p = PeerConfig::new("10.0.0.2".parse().unwrap(), 64512, Role::RrClient);
    /// p.connect_retry = Duration::from_secs(5);
    /// p.connect_retry_max = Duration::from_secs(120);
    /// let secs: Vec<u64> = (1..=7).map(|n| p.retry_delay(n).as_secs()).collect();
    /// assert_eq!(secs, [5, 10, 20, 40, 80, 120, 120]);
    /// ```
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let grown = self.connect_retry.saturating_mul(1 << doublings);
        grown.min(self.connect_retry_max.max(self.connect_retry))
    }
}
