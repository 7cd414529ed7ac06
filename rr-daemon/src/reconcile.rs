//! From datastore snapshots to the desired engine state.
//!
//! The watcher task follows the datastore ([`datastore::snapshot::follow`]); on every new snapshot this module
//! resolves who we are, runs the peering computation ([`datastore::peering::compute`]), maps each
//! [`DesiredSession`] onto an [`rr_core::PeerConfig`] plus the transport details the engine does not know
//! (port, TCP-MD5 password, GTSM), and hands the whole [`Desired`] set to the engine task, which diffs it
//! against the peers it has. Only a change of the computed set is sent, so unrelated resource edits cost
//! nothing downstream.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use datastore::model::{NextHopMode, SourceAddress};
use datastore::peering::{DesiredSession, SessionRole};
use datastore::unhonoured::Unhonoured;
use datastore::{Identity, Snapshot};
use rr_core::{GracefulRestartConfig, PeerConfig, Role};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::logging::LogControl;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use crate::tasks::EngineCmd;

/// Calico's session timers (confd's BIRD template): connect retry 5 s.
const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Cap of the connect-retry backoff: a peer that keeps refusing or not answering is tried 5, 10, 20, 40,
/// 80 s apart and then every 120 s (RFC 4271's suggested ConnectRetryTime), jittered. A Calico node
/// connects to its reflectors itself when it comes up, which ends the backoff at once; a new or changed
/// peer starts from 5 s. Thousands of absent nodes then cost a few attempts a second, not thousands.
const CONNECT_RETRY_MAX: Duration = Duration::from_secs(120);
/// Peering warnings logged one by one per change (the rest are counted).
const LOGGED_WARNINGS: usize = 5;
/// BIRD's default hold time, which Calico nodes use.
const DEFAULT_HOLD: Duration = Duration::from_secs(240);

/// A peer as the engine task manages it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PeerSpec {
    /// Display name: the peer's node name, else its address.
    pub name: String,
    /// Peer address (the engine's key).
    pub addr: IpAddr,
    /// Peer TCP port for outgoing connections.
    pub port: u16,
    /// Role as computed from the datastore (for display).
    pub role: SessionRole,
    /// The BGPPeer (or mesh) that produced the session.
    pub origin: String,
    /// TCP-MD5 key.
    pub password: Option<String>,
    /// GTSM hop count.
    pub ttl_security: Option<u8>,
    /// Engine configuration of the peer.
    pub config: PeerConfig,
}

/// A peer the datastore asks for that is not started, and why (e.g. its TCP-MD5 password cannot be read:
/// starting it unsigned would fail open).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DisabledPeer {
    /// Display name, as [`PeerSpec::name`].
    pub name: String,
    /// Peer address.
    pub addr: IpAddr,
    /// Peer TCP port.
    pub port: u16,
    /// Role as computed from the datastore.
    pub role: SessionRole,
    /// The BGPPeer that produced the session.
    pub origin: String,
    /// Remote AS.
    pub remote_as: u32,
    /// Why it is not started.
    pub reason: String,
}

/// Engine-wide identity; a change is applied in place (`Engine::set_identity`), resetting only the sessions it
/// affects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EngineIdentity {
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Cluster id (`None`: not a reflector; the engine then uses the router id).
    pub cluster_id: Option<Ipv4Addr>,
    /// Local AS.
    pub local_as: u32,
}

impl std::fmt::Display for EngineIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "router id {}, ", self.router_id)?;
        match self.cluster_id {
            Some(c) => write!(f, "cluster id {c}, ")?,
            None => f.write_str("no cluster id, ")?,
        }
        write!(f, "AS {}", self.local_as)
    }
}

/// Everything the engine task should converge to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Desired {
    /// Engine identity.
    pub identity: EngineIdentity,
    /// Addresses to listen on.
    pub listen_ips: Vec<IpAddr>,
    /// BGP listen port.
    pub listen_port: u16,
    /// Peers. Shared with the engine task's per-peer entries, so that a peer's spec is stored once however many
    /// of these are alive (the last one sent, and the engine task's).
    pub peers: Vec<Arc<PeerSpec>>,
    /// Peers not started, with the reason.
    pub disabled: Vec<DisabledPeer>,
    /// The node name resolved.
    pub node_name: String,
}

/// Picks our node name: `NODENAME`, else the Node whose IPv4 address is `IP`, else the host name when a Node
/// has it, else the only Node with a cluster id (a single standalone reflector in a file datastore).
pub(crate) fn node_name(cfg: &Config, snap: &Snapshot) -> String {
    if let Some(n) = &cfg.nodename {
        return n.clone();
    }
    if let Some(ip) = cfg.ip
        && let Some((n, _)) = snap
            .nodes
            .iter()
            .find(|(_, node)| node.ipv4() == Some(IpAddr::V4(ip)))
    {
        return n.clone();
    }
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if snap.nodes.contains_key(h) {
            return h.to_string();
        }
    }
    let reflectors: Vec<&String> = snap
        .nodes
        .iter()
        .filter(|(_, n)| n.cluster_id().is_some())
        .map(|(k, _)| k)
        .collect();
    if let [only] = reflectors.as_slice() {
        return (*only).clone();
    }
    // A standalone reflector: no Node; found by peerIP.
    String::from("rr-daemon")
}

fn role(r: SessionRole) -> Role {
    match r {
        SessionRole::RouteReflectorClient => Role::RrClient,
        SessionRole::Ebgp => Role::Ebgp,
        _ => Role::NonClient,
    }
}

/// Maps one desired session onto the engine's peer configuration.
pub(crate) fn peer_spec(
    s: &DesiredSession,
    local_as: u32,
    password: Option<String>,
    default_max_prefixes: Option<usize>,
) -> PeerSpec {
    let mut c = PeerConfig::new(s.peer_ip, s.remote_as.0, role(s.role));
    if s.local_as.0 != local_as {
        c.local_as = Some(s.local_as.0);
    }
    c.passive = s.options.passive;
    c.hold_time = s.options.hold_time.unwrap_or(DEFAULT_HOLD);
    c.keepalive = s.options.keepalive_time;
    c.connect_retry = CONNECT_RETRY;
    c.connect_retry_max = CONNECT_RETRY_MAX;
    // Calico runs every session with `add paths on`: send every path to peers that can receive them, so
    // clients see the ECMP paths a single-best reflector would hide.
    c.add_path_send_max = Some(usize::MAX);
    c.add_path_receive = true;
    c.max_prefixes = s
        .options
        .max_prefixes
        .map(|m| m as usize)
        .or(default_max_prefixes);
    c.graceful_restart = GracefulRestartConfig {
        enabled: true,
        restart_time: s
            .options
            .restart_time
            .map_or(120, |d| d.as_secs().min(4095) as u16),
        llgr_stale_time: None,
        // The reflector forwards no traffic: a restart leaves the clients' forwarding intact, and a
        // clear bit would make every BIRD client flush the reflected routes the moment the reflector
        // reconnects (RFC 4724 section 4.2) instead of at its End-of-RIB.
        forwarding_state: true,
    };
    // nextHopMode as calico-node's BIRD: Auto is BIRD's default (our address towards eBGP, unchanged towards
    // iBGP), Self is `next hop self`, Keep (also from keepOriginalNextHop on eBGP sessions) `next hop keep`.
    c.next_hop = match s.options.next_hop_mode {
        Some(NextHopMode::SelfHop) => rr_core::NextHopMode::SelfAddr,
        Some(NextHopMode::Keep) => rr_core::NextHopMode::Keep,
        _ => rr_core::NextHopMode::Auto,
    };
    // numAllowedLocalASNumbers: BIRD's `allow local as N`.
    c.allow_local_as = s.options.num_allowed_local_as.unwrap_or(0);
    c.local_addr = match s.options.source_address {
        SourceAddress::None => None,
        _ => Some(s.local_ip),
    };
    PeerSpec {
        name: s.peer_node.clone().unwrap_or_else(|| s.peer_ip.to_string()),
        addr: s.peer_ip,
        port: s.peer_port,
        role: s.role,
        origin: s.origin.resource_name().to_string(),
        password,
        ttl_security: s.options.ttl_security,
        config: c,
    }
}

/// Logs each field set for this reflector that it does not honour ([`datastore::unhonoured`]) once, for as
/// long as it stays set (removing the setting and setting it again warns again).
#[derive(Default)]
pub(crate) struct WarnOnce {
    warned: HashSet<Unhonoured>,
}

impl WarnOnce {
    /// Warns about the entries not warned about before; forgets the ones no longer set.
    pub(crate) fn report(&mut self, now: Vec<Unhonoured>) -> usize {
        let mut fresh = 0;
        for u in &now {
            if !self.warned.contains(u) {
                fresh += 1;
                tracing::warn!(
                    resource = %u.resource,
                    field = %u.field,
                    value = %u.value,
                    reason = u.reason.as_str(),
                    "setting not honoured: {}",
                    u.detail
                );
            }
        }
        self.warned = now.into_iter().collect();
        fresh
    }
}

/// Computes the desired state from a snapshot. `logged` holds the peering warnings last logged (they are
/// logged again only when they change).
pub(crate) async fn desired(
    cfg: &Config,
    snap: &Snapshot,
    secrets: &mut Secrets,
    warn_once: &mut WarnOnce,
    logged: &mut Vec<String>,
) -> Option<Desired> {
    let name = node_name(cfg, snap);
    let identity = Identity {
        node_name: name.clone(),
        ipv4: cfg.ip,
        ipv6: cfg.ip6,
        cluster_id: cfg.cluster_id,
        as_number: cfg.asn.map(datastore::AsNumber),
    };
    let p = datastore::peering::compute(snap, &identity);
    secrets.begin_pass();
    // The same warnings come back on every recomputation: log them when they change, the first few and
    // a count.
    if p.warnings != *logged {
        for w in p.warnings.iter().take(LOGGED_WARNINGS) {
            tracing::warn!("{w}");
        }
        if p.warnings.len() > LOGGED_WARNINGS {
            tracing::warn!(
                warnings = p.warnings.len(),
                "peering: {} more warnings not logged",
                p.warnings.len() - LOGGED_WARNINGS
            );
        }
        logged.clone_from(&p.warnings);
    }
    warn_once.report(datastore::unhonoured::unhonoured(snap, &p));
    let local = &p.local;
    // CALICO_ROUTER_ID (an address, or `hash` of the node name), else the node's IPv4 address, as
    // calico-node's BIRD template chooses `router id`.
    let Some(router_id) = cfg
        .router_id
        .map(|r| r.resolve(&name))
        .or_else(|| local.router_id())
    else {
        tracing::error!(node = %name, "no router id: set IP, CALICO_ROUTER_ID (an address or `hash`) or --router-id, or give node {name} an ipv4Address");
        return None;
    };
    let local_as = local.as_number.0;
    let mut peers = Vec::with_capacity(p.sessions.len());
    let mut disabled = Vec::new();
    for s in &p.sessions {
        let password = match &s.options.password {
            Some(r) => match secrets.get(&r.name, &r.key).await {
                Ok(pw) => Some(pw),
                Err(reason) => {
                    // RFC 2385 section 2: a segment without the expected MD5 digest MUST be dropped. Starting
                    // the peer unsigned would accept exactly those: fail closed instead.
                    tracing::error!(
                        peer = %s.peer_node.clone().unwrap_or_else(|| s.peer_ip.to_string()),
                        address = %s.peer_ip,
                        bgppeer = s.origin.resource_name(),
                        reason = %reason,
                        "peer not started: its TCP-MD5 password cannot be read"
                    );
                    let spec = peer_spec(s, local_as, None, cfg.max_prefixes);
                    disabled.push(DisabledPeer {
                        name: spec.name,
                        addr: spec.addr,
                        port: spec.port,
                        role: spec.role,
                        origin: spec.origin,
                        remote_as: spec.config.remote_as,
                        reason,
                    });
                    continue;
                }
            },
            None => None,
        };
        let mut spec = peer_spec(s, local_as, password, cfg.max_prefixes);
        // BGPPeer.filters: the import and export policy of the session (applied live on a change).
        (spec.config.import_policy, spec.config.export_policy) =
            crate::policy::for_filters(&s.options.filters, snap);
        peers.push(Arc::new(spec));
    }
    secrets.end_pass();
    // BGPConfiguration default `bindMode`: `NodeIP` listens on the node's addresses only (BIRD's
    // `listen bgp address <nodeIP>`); `None` (the default) on every address, of each family the node has.
    let node_ip_only = snap
        .configs
        .get("default")
        .and_then(|c| c.spec.bind_mode.as_deref())
        == Some("NodeIP");
    let mut listen_ips: Vec<IpAddr> = Vec::new();
    if node_ip_only {
        listen_ips.extend(local.ipv4);
        listen_ips.extend(local.ipv6);
    } else {
        listen_ips.push(IpAddr::from([0u8; 4]));
        if local.ipv6.is_some() {
            listen_ips.push(IpAddr::from([0u16; 8]));
        }
    }
    Some(Desired {
        identity: EngineIdentity {
            router_id,
            cluster_id: local.cluster_id,
            local_as,
        },
        listen_ips,
        listen_port: cfg.listen_port.unwrap_or(local.listen_port),
        peers,
        disabled,
        node_name: name,
    })
}

/// The watcher side: turns each new snapshot into a [`Desired`] and sends it to the engine when it changed.
/// Also reports the datastore sync state. An outage keeps the last snapshot (and so every session).
pub(crate) async fn run(
    cfg: Arc<Config>,
    mut snaps: watch::Receiver<Arc<Snapshot>>,
    mut secrets: Secrets,
    tx: mpsc::Sender<EngineCmd>,
    metrics: Arc<Metrics>,
    log: Arc<LogControl>,
) {
    let mut last: Option<Desired> = None;
    let mut logged = Vec::new();
    let mut last_synced = None;
    let mut last_invalid: Option<String> = None;
    let mut warn_once = WarnOnce::default();
    loop {
        let snap = snaps.borrow_and_update().clone();
        metrics.datastore_applied(snap.revision.0, snap.synced);
        // logSeverityScreen: the node's BGPConfiguration, else the global one (as calico-node reads it).
        let name = node_name(&cfg, &snap);
        let severity = snap
            .node_config(&name)
            .and_then(|c| c.spec.log_severity_screen.clone())
            .or_else(|| {
                snap.global_config()
                    .and_then(|c| c.spec.log_severity_screen.clone())
            });
        log.apply_calico(severity.as_deref());
        // Invalid records are kept newest last (a bounded list): count those after the last one counted.
        let keys: Vec<String> = snap.invalid.iter().map(ToString::to_string).collect();
        let new = match last_invalid
            .as_ref()
            .and_then(|k| keys.iter().rposition(|x| x == k))
        {
            Some(i) => keys.len() - 1 - i,
            None => keys.len(),
        };
        for _ in 0..new {
            metrics.datastore_error("invalid_record");
        }
        if let Some(k) = keys.last() {
            last_invalid = Some(k.clone());
        }
        let status = (snap.synced, snap.unavailable.clone());
        if last_synced.as_ref() != Some(&status) {
            last_synced = Some(status.clone());
            let (synced, reason) = status;
            if tx
                .send(EngineCmd::DatastoreStatus { synced, reason })
                .await
                .is_err()
            {
                return;
            }
        }
        // Until the first full listing arrives the snapshot is empty: computing from it would remove
        // everything, so wait (a later outage keeps the last good snapshot, marked unsynced).
        if snap.synced || last.is_some() {
            let started = std::time::Instant::now();
            let d = desired(&cfg, &snap, &mut secrets, &mut warn_once, &mut logged).await;
            // One recomputation per published snapshot (a batch of datastore changes).
            tracing::debug!(
                resources = snap.len(),
                revision = %snap.revision,
                took_us = started.elapsed().as_micros() as u64,
                "peering recomputed"
            );
            if let Some(d) = d
                && last.as_ref() != Some(&d)
            {
                tracing::info!(
                    node = %d.node_name,
                    peers = d.peers.len(),
                    revision = %snap.revision,
                    took_us = started.elapsed().as_micros() as u64,
                    "desired sessions changed"
                );
                last = Some(d.clone());
                if tx.send(EngineCmd::Desired(Box::new(d))).await.is_err() {
                    return;
                }
            }
        }
        // A datastore change, or a password in use changed (rotated Secret or file): recompute. Only the
        // sessions whose password changed differ, and only those are reset.
        tokio::select! {
            r = snaps.changed() => if r.is_err() {
                return;
            },
            () = secrets.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datastore::AsNumber;
    use datastore::peering::{SessionOptions, SessionOrigin};

    fn session(role: SessionRole) -> DesiredSession {
        DesiredSession {
            peer_ip: "10.0.0.2".parse().expect("ip"),
            peer_port: 1790,
            role,
            remote_as: AsNumber(64512),
            local_as: AsNumber(64512),
            local_ip: "10.0.0.1".parse().expect("ip"),
            peer_node: Some("node-2".into()),
            peer_cluster_id: None,
            origin: SessionOrigin::BgpPeer {
                name: "peer-with-route-reflectors".into(),
                reverse: true,
            },
            options: SessionOptions::default(),
        }
    }

    #[test]
    fn client_session_maps_to_calico_defaults() {
        let p = peer_spec(&session(SessionRole::RouteReflectorClient), 64512, None, None);
        assert_eq!(p.name, "node-2");
        assert_eq!(p.port, 1790);
        assert_eq!(p.origin, "peer-with-route-reflectors");
        assert_eq!(p.config.role, Role::RrClient);
        assert_eq!(p.config.local_as, None);
        assert_eq!(p.config.hold_time, DEFAULT_HOLD);
        assert_eq!(p.config.connect_retry, CONNECT_RETRY);
        assert_eq!(p.config.connect_retry_max, CONNECT_RETRY_MAX);
        assert_eq!(p.config.add_path_send_max, Some(usize::MAX));
        assert!(p.config.graceful_restart.enabled);
        assert_eq!(p.config.graceful_restart.restart_time, 120);
        assert_eq!(p.config.next_hop, rr_core::NextHopMode::Auto);
        assert_eq!(p.config.local_addr, Some("10.0.0.1".parse().expect("ip")));
        assert!(!p.config.passive);
    }

    #[test]
    fn roles_and_options_map() {
        assert_eq!(
            peer_spec(&session(SessionRole::ReflectorMesh), 64512, None, None)
                .config
                .role,
            Role::NonClient
        );
        assert_eq!(
            peer_spec(&session(SessionRole::NodeMesh), 64512, None, None)
                .config
                .role,
            Role::NonClient
        );
        let mut s = session(SessionRole::Ebgp);
        s.remote_as = AsNumber(65001);
        s.local_as = AsNumber(64999);
        s.options.passive = true;
        s.options.restart_time = Some(Duration::from_secs(300));
        s.options.keepalive_time = Some(Duration::from_secs(10));
        s.options.next_hop_mode = Some(NextHopMode::SelfHop);
        s.options.source_address = SourceAddress::None;
        s.options.ttl_security = Some(2);
        let p = peer_spec(&s, 64512, Some("pw".into()), None);
        assert_eq!(p.config.role, Role::Ebgp);
        assert_eq!(p.config.remote_as, 65001);
        assert_eq!(p.config.local_as, Some(64999));
        assert!(p.config.passive);
        assert_eq!(p.config.graceful_restart.restart_time, 300);
        assert_eq!(p.config.keepalive, Some(Duration::from_secs(10)));
        assert_eq!(p.config.next_hop, rr_core::NextHopMode::SelfAddr);
        assert_eq!(p.config.local_addr, None);
        assert_eq!(p.ttl_security, Some(2));
        assert_eq!(p.password.as_deref(), Some("pw"));
    }

    #[test]
    fn restart_time_is_capped_at_the_capability_maximum() {
        let mut s = session(SessionRole::RouteReflectorClient);
        s.options.restart_time = Some(Duration::from_secs(100_000));
        assert_eq!(
            peer_spec(&s, 64512, None, None)
                .config
                .graceful_restart
                .restart_time,
            4095
        );
    }
}
