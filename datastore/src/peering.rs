//! The peering computation: Calico resources + this reflector's identity → the sessions it must have.
//!
//! This reproduces confd's `updatePeersV1` (`calico:confd/pkg/backends/calico/client.go`) restricted to the
//! peerings of one node (ours), then applies the session rules of confd's BIRD templates:
//!
//! 1. Global BGPPeers (no `node`, no `nodeSelector`) first, then node-scoped ones that select us (`node` equal
//!    to our name or `nodeSelector` matching our labels). Each yields either the nodes matching `peerSelector`
//!    (one peer per address family where the node has an address) or the single `peerIP`.
//! 2. Reverse peerings: a BGPPeer whose remote side is us (`peerSelector` matches us, or `peerIP` is one of our
//!    addresses with a matching AS and port) yields the nodes on its local side (`node`, `nodeSelector`, or
//!    every node) unless `reversePeering: Manual`.
//! 3. A peering is keyed by (peer address, port); the first writer wins, so explicit forward peerings beat
//!    implicit reverse ones and global ones beat node-scoped ones. BGPPeers are visited in name order (confd
//!    visits a Go map, so its order on duplicates is unspecified). Peerings with our own addresses are dropped.
//! 4. The node-to-node mesh when enabled and we have no cluster id (and are a Calico node): every other node
//!    without a cluster id, passive when its address sorts after ours as a string.
//! 5. Which side waits (confd's `bgp_processor.go`, `buildPeerFromData`): mesh sessions and global BGPPeers
//!    whose peer is a Calico node (selected by `peerSelector`, or a `peerIP` that is a node's address) are
//!    passive on the side whose peer address sorts after its own as a string, so exactly one side connects.
//!    Node-scoped peerings (the documented `peer-with-route-reflectors`, and every reverse peering, so a
//!    reflector's sessions to its clients) are never passive: both ends connect and collision detection
//!    (RFC 4271 section 6.8) keeps one connection.
//! 6. Roles, with `effective AS = localASNumber || our AS`: a peer in another AS is eBGP; otherwise with our
//!    cluster id set, a peer whose cluster id equals ours is a non-client (reflector mesh) and every other peer
//!    is a route reflector client; without a cluster id, same-AS peers are plain iBGP non-clients.
//!
//! Deliberate differences from confd, each for correctness: a `peerIP` peering that names a Calico node
//! carries that node's cluster id (confd leaves it empty, which makes a same-cluster reflector a client), and a
//! reverse peering uses the forward side's `localASNumber` as the remote AS (the AS the other end will speak).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::identity::{BGP_PORT, Identity, LocalNode, global_as, listen_port, mesh_enabled};
use crate::model::{AsNumber, BgpPeer, NextHopMode, Node, Resource, SecretKeyRef, SourceAddress};
use crate::selector::Selector;
use crate::snapshot::Snapshot;

/// Most warnings kept in a [`Peering`] (the rest are counted).
const MAX_WARNINGS: usize = 100;

/// How this reflector treats a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SessionRole {
    /// iBGP route reflector client (RFC 4456): a Calico node or router in our AS outside our cluster.
    RouteReflectorClient,
    /// iBGP non-client: another reflector with our cluster id.
    ReflectorMesh,
    /// iBGP non-client with a Calico node, when we have no cluster id.
    NonClientIbgp,
    /// iBGP non-client with a router that is not a Calico node, when we have no cluster id.
    ExternalIbgp,
    /// eBGP: the peer's AS differs from our effective AS.
    Ebgp,
    /// Calico node-to-node mesh session.
    NodeMesh,
}

impl SessionRole {
    /// True for route reflector clients.
    pub fn is_client(self) -> bool {
        self == SessionRole::RouteReflectorClient
    }

    /// True for eBGP sessions.
    pub fn is_ebgp(self) -> bool {
        self == SessionRole::Ebgp
    }
}

impl fmt::Display for SessionRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionRole::RouteReflectorClient => "rr-client",
            SessionRole::ReflectorMesh => "reflector-mesh",
            SessionRole::NonClientIbgp => "ibgp",
            SessionRole::ExternalIbgp => "external-ibgp",
            SessionRole::Ebgp => "ebgp",
            SessionRole::NodeMesh => "node-mesh",
        })
    }
}

/// Where a session came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SessionOrigin {
    /// A BGPPeer resource.
    BgpPeer {
        /// The BGPPeer name.
        name: String,
        /// True for an automatic reverse peering (the BGPPeer's remote side is us).
        reverse: bool,
    },
    /// The node-to-node mesh.
    NodeMesh,
}

impl SessionOrigin {
    /// The name of the source resource (`node-to-node-mesh` for the mesh).
    pub fn resource_name(&self) -> &str {
        match self {
            SessionOrigin::BgpPeer { name, .. } => name,
            SessionOrigin::NodeMesh => "node-to-node-mesh",
        }
    }
}

/// Per-session options taken from the BGPPeer (or the mesh settings of `BGPConfiguration default`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionOptions {
    /// TCP-MD5 password reference (resolved through [`crate::Datastore::secret`]).
    pub password: Option<SecretKeyRef>,
    /// Keepalive time (`keepaliveTime`).
    pub keepalive_time: Option<Duration>,
    /// Hold time: Calico has no setting; `None` means the speaker default (BIRD: 240 s).
    pub hold_time: Option<Duration>,
    /// Graceful restart time (`maxRestartTime`, rounded to whole seconds as confd does).
    pub restart_time: Option<Duration>,
    /// GTSM hop count (`ttlSecurity`).
    pub ttl_security: Option<u8>,
    /// Next hop handling (`nextHopMode`, or `Keep` from `keepOriginalNextHop`).
    pub next_hop_mode: Option<NextHopMode>,
    /// `UseNodeIP` (default) or `None`.
    pub source_address: SourceAddress,
    /// Wait for the peer to connect instead of connecting.
    pub passive: bool,
    /// `numAllowedLocalASNumbers`.
    pub num_allowed_local_as: Option<u32>,
    /// `reachableBy` gateway.
    pub reachable_by: Option<IpAddr>,
    /// BGPFilter names, in order.
    pub filters: Vec<String>,
    /// Maximum prefixes accepted from the peer (Calico has no such field: always `None` from the datastore).
    pub max_prefixes: Option<u32>,
}

/// One session this reflector should have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DesiredSession {
    /// Peer address.
    pub peer_ip: IpAddr,
    /// Peer TCP port.
    pub peer_port: u16,
    /// How we treat the peer.
    pub role: SessionRole,
    /// The peer's AS.
    pub remote_as: AsNumber,
    /// Our AS on this session.
    pub local_as: AsNumber,
    /// Our address of the peer's family (the source address unless `source_address` is `None`).
    pub local_ip: IpAddr,
    /// The Calico node owning the peer address, if any.
    pub peer_node: Option<String>,
    /// The peer's cluster id, if it is a reflector node.
    pub peer_cluster_id: Option<Ipv4Addr>,
    /// Where the session came from.
    pub origin: SessionOrigin,
    /// Options.
    pub options: SessionOptions,
}

/// The result of [`compute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peering {
    /// Our resolved identity.
    pub local: LocalNode,
    /// The sessions, sorted by (peer address, port).
    pub sessions: Vec<DesiredSession>,
    /// Problems found on the way (node without address, no local address of a family, ...).
    pub warnings: Vec<String>,
}

/// Computes the sessions; see the module docs. Warnings are logged with `tracing`.
pub fn desired_sessions(snap: &Snapshot, identity: &Identity) -> Vec<DesiredSession> {
    let p = compute(snap, identity);
    for w in &p.warnings {
        tracing::warn!("{w}");
    }
    p.sessions
}

/// A node as the computation sees it.
struct NodeView<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
    asn: AsNumber,
    cid: Option<Ipv4Addr>,
    port: u16,
}

impl NodeView<'_> {
    fn ip(&self, v4: bool) -> Option<IpAddr> {
        if v4 { self.v4 } else { self.v6 }
    }
}

/// A peering before roles are assigned.
struct Candidate {
    ip: IpAddr,
    port: u16,
    remote_as: AsNumber,
    local_as: Option<AsNumber>,
    node: Option<String>,
    cid: Option<Ipv4Addr>,
    origin: SessionOrigin,
    options: SessionOptions,
    keep_next_hop: bool,
}

struct Ctx<'a> {
    snap: &'a Snapshot,
    me: LocalNode,
    global_as: AsNumber,
    nodes: Vec<NodeView<'a>>,
    by_ip: HashMap<IpAddr, usize>,
    by_name: HashMap<&'a str, usize>,
    emitted: HashMap<(IpAddr, u16), usize>,
    out: Vec<Candidate>,
    warnings: Vec<String>,
    dropped_warnings: usize,
}

/// Computes the sessions and reports warnings; see the module docs.
pub fn compute(snap: &Snapshot, identity: &Identity) -> Peering {
    let me = identity.resolve(snap);
    let global_as = global_as(snap);
    let mut nodes: Vec<NodeView<'_>> = snap
        .nodes
        .values()
        .filter(|n| n.name() != me.name)
        .map(|n| node_view(snap, n, global_as))
        .collect();
    let mut by_ip = HashMap::with_capacity(nodes.len() * 2);
    let by_name = nodes.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    for (i, n) in nodes.iter().enumerate() {
        for ip in [n.v4, n.v6].into_iter().flatten() {
            by_ip.entry(ip).or_insert(i);
        }
    }
    nodes.shrink_to_fit();
    let mut cx = Ctx {
        snap,
        me,
        global_as,
        nodes,
        by_ip,
        by_name,
        emitted: HashMap::new(),
        out: Vec::new(),
        warnings: Vec::new(),
        dropped_warnings: 0,
    };
    if cx.me.ipv4.is_none() && cx.me.ipv6.is_none() {
        cx.warn(format!(
            "reflector {:?} has no IPv4 or IPv6 address (no Node address and no IP/IP6 configured): no sessions",
            cx.me.name
        ));
        return cx.finish(Vec::new());
    }
    let peers: Vec<&BgpPeer> = snap.peers.values().collect();
    for global_pass in [true, false] {
        for p in &peers {
            if p.is_global() != global_pass || p.spec.local_workload_selector.is_some() {
                continue;
            }
            if !global_pass && !cx.selects_me(p) {
                continue;
            }
            cx.forward(p);
        }
    }
    for p in &peers {
        if p.spec.reverse_peering != Some(crate::model::ReversePeering::Manual)
            && p.spec.local_workload_selector.is_none()
        {
            cx.reverse(p);
        }
    }
    if mesh_enabled(snap) && cx.me.cluster_id.is_none() && cx.me.has_node {
        cx.mesh();
    }
    let candidates = std::mem::take(&mut cx.out);
    let sessions = cx.assign_roles(candidates);
    cx.finish(sessions)
}

fn node_view<'a>(snap: &Snapshot, n: &'a Node, global_as: AsNumber) -> NodeView<'a> {
    NodeView {
        name: n.name(),
        labels: &n.metadata.labels,
        v4: n.ipv4(),
        v6: n.ipv6(),
        asn: n.as_number().unwrap_or(global_as),
        cid: n.cluster_id(),
        port: listen_port(snap, n.name()),
    }
}

impl Ctx<'_> {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.dropped_warnings += 1;
        }
    }

    fn finish(mut self, mut sessions: Vec<DesiredSession>) -> Peering {
        sessions.sort();
        if self.dropped_warnings > 0 {
            self.warnings
                .push(format!("... and {} more warnings", self.dropped_warnings));
        }
        Peering {
            local: self.me,
            sessions,
            warnings: self.warnings,
        }
    }

    /// Does a node-scoped BGPPeer apply to us?
    fn selects_me(&self, p: &BgpPeer) -> bool {
        match (&p.spec.node, &p.spec.node_selector) {
            (Some(n), _) => *n == self.me.name,
            (None, Some(sel)) => self.me.has_node && sel.matches(&self.me.labels),
            (None, None) => true,
        }
    }

    fn matching<'s>(&'s self, sel: &'s Selector) -> impl Iterator<Item = usize> + 's {
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(_, n)| sel.matches(n.labels))
            .map(|(i, _)| i)
    }

    fn emit(&mut self, c: Candidate) {
        if self.me.owns(c.ip) {
            return; // no peering with ourselves
        }
        let key = (c.ip, c.port);
        if self.emitted.contains_key(&key) {
            return; // first writer wins
        }
        self.emitted.insert(key, self.out.len());
        self.out.push(c);
    }

    /// The peers a BGPPeer gives us when it applies to us.
    fn forward(&mut self, p: &BgpPeer) {
        let first = self.out.len();
        self.forward_candidates(p);
        if !p.is_global() {
            return;
        }
        // confd: a global peering with another Calico node is unidirectional; the side whose peer address
        // sorts higher (as a string) waits.
        for i in first..self.out.len() {
            let c = &self.out[i];
            let waits = c.node.is_some()
                && self
                    .me
                    .ip_for(c.ip.is_ipv4())
                    .is_some_and(|mine| c.ip.to_string() > mine.to_string());
            if waits {
                self.out[i].options.passive = true;
            }
        }
    }

    fn forward_candidates(&mut self, p: &BgpPeer) {
        let origin = SessionOrigin::BgpPeer {
            name: p.name().to_string(),
            reverse: false,
        };
        let options = peer_options(p);
        if let Some(sel) = &p.spec.peer_selector {
            let idx: Vec<usize> = self.matching(sel).collect();
            for i in idx {
                self.node_as_peers(i, true, true, &origin, &options, p.spec.local_as_number, p);
            }
            return;
        }
        let Some(peer_ip) = p.spec.peer_ip else {
            self.warn(format!(
                "BGPPeer {:?} has neither peerIP nor peerSelector",
                p.name()
            ));
            return;
        };
        let remote_as = p.spec.as_number.filter(|a| a.0 != 0).unwrap_or(self.global_as);
        let node_idx = self.by_ip.get(&peer_ip.ip).copied();
        let port = match peer_ip.port {
            Some(port) => port,
            None => match node_idx {
                // confd: an unset port takes the listenPort of the Calico node with that IP and AS.
                Some(i) if self.nodes[i].asn == remote_as => self.nodes[i].port,
                _ => BGP_PORT,
            },
        };
        let (node, cid) = match node_idx {
            Some(i) => (Some(self.nodes[i].name.to_string()), self.nodes[i].cid),
            None => (None, None),
        };
        self.emit(Candidate {
            ip: peer_ip.ip,
            port,
            remote_as,
            local_as: p.spec.local_as_number.filter(|a| a.0 != 0),
            node,
            cid,
            origin,
            options,
            keep_next_hop: p.spec.keep_original_next_hop,
        });
    }

    /// confd's `nodeAsBGPPeers`: one candidate per requested family where the node has an address.
    #[allow(clippy::too_many_arguments)]
    fn node_as_peers(
        &mut self,
        i: usize,
        v4: bool,
        v6: bool,
        origin: &SessionOrigin,
        options: &SessionOptions,
        local_as: Option<AsNumber>,
        peer: &BgpPeer,
    ) {
        let peer_name = peer.name();
        let keep_next_hop = peer.spec.keep_original_next_hop;
        let n = &self.nodes[i];
        let mut found = false;
        let mut cands = Vec::new();
        for fam_v4 in [true, false] {
            if !(if fam_v4 { v4 } else { v6 }) {
                continue;
            }
            let Some(ip) = n.ip(fam_v4) else { continue };
            found = true;
            cands.push(Candidate {
                ip,
                port: n.port,
                remote_as: n.asn,
                local_as: local_as.filter(|a| a.0 != 0),
                node: Some(n.name.to_string()),
                cid: n.cid,
                origin: origin.clone(),
                options: options.clone(),
                keep_next_hop,
            });
        }
        if !found {
            let name = n.name.to_string();
            self.warn(format!(
                "node {name:?} (selected by BGPPeer {peer_name:?}) has no {} address: no session",
                match (v4, v6) {
                    (true, true) => "IPv4 or IPv6",
                    (true, false) => "IPv4",
                    _ => "IPv6",
                }
            ));
        }
        for c in cands {
            self.emit(c);
        }
    }

    /// Reverse peerings: the BGPPeer's remote side is us.
    fn reverse(&mut self, p: &BgpPeer) {
        let (v4, v6, local_as) = if let Some(sel) = &p.spec.peer_selector {
            if !self.me.has_node || !sel.matches(&self.me.labels) {
                return;
            }
            (true, true, None)
        } else if let Some(pip) = p.spec.peer_ip {
            if !self.me.owns(pip.ip) {
                return;
            }
            let want_as = p.spec.as_number.filter(|a| a.0 != 0);
            let local_as = if self.me.as_configured {
                if want_as.unwrap_or(self.global_as) != self.me.as_number {
                    return;
                }
                None
            } else {
                // Standalone reflector with no configured AS: adopt the AS the peering names.
                Some(want_as.unwrap_or(self.global_as))
            };
            if pip.port.is_some_and(|port| port != self.me.listen_port) {
                return;
            }
            (pip.ip.is_ipv4(), pip.ip.is_ipv6(), local_as)
        } else {
            return;
        };
        let origin = SessionOrigin::BgpPeer {
            name: p.name().to_string(),
            reverse: true,
        };
        let mut options = peer_options(p);
        // A reverse session is the other end of the forward one: the remote speaks `localASNumber` if set.
        let remote_as_override = p.spec.local_as_number.filter(|a| a.0 != 0);
        options.reachable_by = None;
        let remote: Vec<usize> = match (&p.spec.node_selector, &p.spec.node) {
            (Some(sel), _) => self.matching(sel).collect(),
            (None, Some(name)) => self.by_name.get(name.as_str()).copied().into_iter().collect(),
            (None, None) => (0..self.nodes.len()).collect(),
        };
        for i in remote {
            let before = self.out.len();
            self.node_as_peers(i, v4, v6, &origin, &options, local_as, p);
            if let Some(asn) = remote_as_override {
                for c in &mut self.out[before..] {
                    c.remote_as = asn;
                }
            }
        }
    }

    /// The node-to-node mesh: every other node without a cluster id.
    fn mesh(&mut self) {
        let cfg = self.snap.global_config().map(|c| &c.spec);
        let options = SessionOptions {
            password: cfg
                .and_then(|c| c.node_mesh_password.as_ref())
                .and_then(|p| p.secret_key_ref.clone()),
            restart_time: cfg
                .and_then(|c| c.node_mesh_max_restart_time)
                .map(|d| Duration::from_secs(d.rounded_secs())),
            ..SessionOptions::default()
        };
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.cid.is_some() {
                continue;
            }
            let mut cands = Vec::new();
            for v4 in [true, false] {
                let (Some(peer), Some(mine)) = (n.ip(v4), self.me.ip_for(v4)) else {
                    continue;
                };
                let mut options = options.clone();
                // confd's template: the side whose address sorts higher (as a string) waits.
                options.passive = peer.to_string() > mine.to_string();
                cands.push(Candidate {
                    ip: peer,
                    port: n.port,
                    remote_as: n.asn,
                    local_as: None,
                    node: Some(n.name.to_string()),
                    cid: None,
                    origin: SessionOrigin::NodeMesh,
                    options,
                    keep_next_hop: false,
                });
            }
            for c in cands {
                self.emit(c);
            }
        }
    }

    fn assign_roles(&mut self, cands: Vec<Candidate>) -> Vec<DesiredSession> {
        let mut out = Vec::with_capacity(cands.len());
        for c in cands {
            let Some(local_ip) = self.me.ip_for(c.ip.is_ipv4()) else {
                self.warn(format!(
                    "no local {} address for peer {} ({}): no session",
                    if c.ip.is_ipv4() { "IPv4" } else { "IPv6" },
                    c.ip,
                    c.origin.resource_name()
                ));
                continue;
            };
            let local_as = c.local_as.unwrap_or(self.me.as_number);
            let role = if c.origin == SessionOrigin::NodeMesh {
                SessionRole::NodeMesh
            } else if c.remote_as != local_as {
                SessionRole::Ebgp
            } else if let Some(my_cid) = self.me.cluster_id {
                // confd bgp_processor: client iff same AS, my cluster id set, and the peer's cluster id is
                // empty or different from mine.
                if c.cid == Some(my_cid) {
                    SessionRole::ReflectorMesh
                } else {
                    SessionRole::RouteReflectorClient
                }
            } else if c.node.is_some() {
                SessionRole::NonClientIbgp
            } else {
                SessionRole::ExternalIbgp
            };
            let mut options = c.options;
            if options.next_hop_mode.is_none() && role == SessionRole::Ebgp && c.keep_next_hop {
                // confd applies the deprecated keepOriginalNextHop to eBGP sessions only.
                options.next_hop_mode = Some(NextHopMode::Keep);
            }
            out.push(DesiredSession {
                peer_ip: c.ip,
                peer_port: c.port,
                role,
                remote_as: c.remote_as,
                local_as,
                local_ip,
                peer_node: c.node,
                peer_cluster_id: c.cid,
                origin: c.origin,
                options,
            });
        }
        out
    }
}

/// Options from a BGPPeer (the `setPeerConfigFieldsFromV3Resource` part).
fn peer_options(p: &BgpPeer) -> SessionOptions {
    let s = &p.spec;
    SessionOptions {
        password: s.password.as_ref().and_then(|p| p.secret_key_ref.clone()),
        keepalive_time: s.keepalive_time.map(|d| Duration::from_secs(d.rounded_secs())),
        hold_time: None,
        restart_time: s.max_restart_time.map(|d| Duration::from_secs(d.rounded_secs())),
        ttl_security: s.ttl_security.filter(|t| *t != 0),
        next_hop_mode: s.next_hop_mode,
        source_address: s.source_address.unwrap_or_default(),
        passive: false,
        num_allowed_local_as: s.num_allowed_local_as_numbers.filter(|n| *n != 0),
        reachable_by: s.reachable_by,
        filters: s.filters.clone(),
        max_prefixes: None,
    }
}

/// Whether replacing `old` by `new` can change any node's peerings (`None` = absent).
///
/// Only Node addresses, AS, cluster id and labels; BGPPeer and BGPFilter specs (as for confd, a filter edit
/// recomputes the peerings that name it); and the AS, mesh, listen port and mesh options of
/// BGPConfigurations count. IPPools and metadata such as annotations do not (confd#234).
pub fn significant_change(old: Option<&Resource>, new: Option<&Resource>) -> bool {
    match (old, new) {
        (None, None) => false,
        (Some(Resource::IpPool(_)), None) | (None, Some(Resource::IpPool(_))) => false,
        (Some(Resource::IpPool(_)), Some(Resource::IpPool(_))) => false,
        (Some(Resource::BgpFilter(a)), Some(Resource::BgpFilter(b))) => a.spec != b.spec,
        (Some(Resource::Node(a)), Some(Resource::Node(b))) => node_key(a) != node_key(b),
        (Some(Resource::BgpPeer(a)), Some(Resource::BgpPeer(b))) => a.spec != b.spec,
        (Some(Resource::BgpConfiguration(a)), Some(Resource::BgpConfiguration(b))) => {
            config_key(a) != config_key(b)
        }
        _ => true,
    }
}

type NodeKey<'a> = (
    Option<IpAddr>,
    Option<IpAddr>,
    Option<AsNumber>,
    Option<Ipv4Addr>,
    &'a BTreeMap<String, String>,
);

fn node_key(n: &Node) -> NodeKey<'_> {
    (
        n.ipv4(),
        n.ipv6(),
        n.as_number(),
        n.cluster_id(),
        &n.metadata.labels,
    )
}

type ConfigKey<'a> = (
    Option<AsNumber>,
    Option<u16>,
    Option<bool>,
    Option<&'a crate::model::BgpPassword>,
    Option<crate::model::GoDuration>,
);

fn config_key(c: &crate::model::BgpConfiguration) -> ConfigKey<'_> {
    let s = &c.spec;
    (
        s.as_number,
        s.listen_port,
        s.node_to_node_mesh_enabled,
        s.node_mesh_password.as_ref(),
        s.node_mesh_max_restart_time,
    )
}

/// Whether two snapshots differ in anything that can change peerings (see [`significant_change`]).
pub fn snapshot_significantly_changed(old: &Snapshot, new: &Snapshot) -> bool {
    fn maps_differ<T>(
        a: &BTreeMap<String, T>,
        b: &BTreeMap<String, T>,
        differ: impl Fn(&T, &T) -> bool,
    ) -> bool {
        a.len() != b.len()
            || a.iter()
                .zip(b.iter())
                .any(|((ka, va), (kb, vb))| ka != kb || differ(va, vb))
    }
    maps_differ(&old.nodes, &new.nodes, |a, b| node_key(a) != node_key(b))
        || maps_differ(&old.peers, &new.peers, |a, b| a.spec != b.spec)
        || maps_differ(&old.configs, &new.configs, |a, b| config_key(a) != config_key(b))
}

/// Recomputes the desired sessions only when the inputs changed significantly.
#[derive(Debug, Default)]
pub struct PeeringTracker {
    last: Option<(Arc<Snapshot>, Identity)>,
    sessions: Vec<DesiredSession>,
    recomputations: u64,
}

impl PeeringTracker {
    /// A tracker that has computed nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the current state. Returns the new session list on the first call and whenever it changed.
    pub fn update(&mut self, snap: &Arc<Snapshot>, identity: &Identity) -> Option<&[DesiredSession]> {
        let first = self.last.is_none();
        if let Some((old, old_id)) = &self.last
            && old_id == identity
            && (Arc::ptr_eq(old, snap) || !snapshot_significantly_changed(old, snap))
        {
            return None;
        }
        self.recomputations += 1;
        let sessions = desired_sessions(snap, identity);
        self.last = Some((Arc::clone(snap), identity.clone()));
        if !first && sessions == self.sessions {
            return None;
        }
        self.sessions = sessions;
        Some(&self.sessions)
    }

    /// The current session list.
    pub fn sessions(&self) -> &[DesiredSession] {
        &self.sessions
    }

    /// How many times the sessions were recomputed.
    pub fn recomputations(&self) -> u64 {
        self.recomputations
    }
}

/// A topology that loses routes: reflectors sharing a cluster id whose clients are not attached to all of them.
///
/// A route from a client of only one of the reflectors reaches the others with their common cluster id in its
/// CLUSTER_LIST, so they drop it (RFC 4456 section 8 loop detection) and their own clients never see it
/// (projectcalico/calico#2735).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedClusterIdWarning {
    /// The shared cluster id.
    pub cluster_id: Ipv4Addr,
    /// The reflector nodes sharing it, sorted.
    pub reflectors: Vec<String>,
    /// Client nodes peered with some but not all of those reflectors, sorted.
    pub partial_clients: Vec<String>,
}

impl fmt::Display for SharedClusterIdWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reflectors {} share cluster id {} but clients {} are not peered with all of them: routes between \
             clients of different reflectors are dropped by CLUSTER_LIST loop detection",
            self.reflectors.join(", "),
            self.cluster_id,
            self.partial_clients.join(", ")
        )
    }
}

/// Finds reflector groups whose shared cluster id loses routes (see [`SharedClusterIdWarning`]).
pub fn shared_cluster_id_warnings(snap: &Snapshot) -> Vec<SharedClusterIdWarning> {
    let mut groups: BTreeMap<Ipv4Addr, Vec<&str>> = BTreeMap::new();
    for n in snap.nodes.values() {
        if let Some(cid) = n.cluster_id() {
            groups.entry(cid).or_default().push(n.name());
        }
    }
    let mut out = Vec::new();
    for (cid, reflectors) in groups {
        if reflectors.len() < 2 {
            continue;
        }
        let client_sets: Vec<std::collections::BTreeSet<String>> = reflectors
            .iter()
            .map(|r| {
                compute(snap, &Identity::named(*r))
                    .sessions
                    .into_iter()
                    .filter(|s| s.role.is_client())
                    .filter_map(|s| s.peer_node)
                    .filter(|n| snap.nodes.get(n).is_some_and(|n| n.cluster_id().is_none()))
                    .collect()
            })
            .collect();
        let all: std::collections::BTreeSet<&String> = client_sets.iter().flatten().collect();
        let partial: Vec<String> = all
            .into_iter()
            .filter(|c| !client_sets.iter().all(|s| s.contains(*c)))
            .cloned()
            .collect();
        if !partial.is_empty() {
            out.push(SharedClusterIdWarning {
                cluster_id: cid,
                reflectors: reflectors.iter().map(|r| r.to_string()).collect(),
                partial_clients: partial,
            });
        }
    }
    out
}
