//! Why two Calico nodes have a BGP session, or why they do not: the reasoning of [`crate::peering`] spelled
//! out for one pair (a reflector and a node), for `rr-cli explain`.
//!
//! The sessions themselves always come from [`peering::compute`] run for each side, so the explanation can
//! never disagree with what the daemon does; this module only adds, for every BGPPeer, which of its fields
//! matched or failed for this pair, the node-to-node mesh verdict, and the role reasoning (AS, cluster ids).
//!
//! ```
//! use datastore::{explain, parse_manifests, Snapshot};
//! let docs = "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: rr1, labels: {route-reflector: 'true'}}\n\
//!   spec: {bgp: {ipv4Address: 10.0.0.1/24, routeReflectorClusterID: 244.0.0.1}}\n---\n\
//!   apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\nspec: {bgp: {ipv4Address: 10.0.0.2/24}}\n---\n\
//!   apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: to-rr}\n\
//!   spec: {nodeSelector: '!has(route-reflector)', peerSelector: route-reflector == 'true'}\n";
//! let (resources, invalid) = parse_manifests("example.yaml", docs);
//! assert!(invalid.is_empty());
//! let snap = Snapshot::from_resources(resources);
//! let e = explain::explain(&snap, "rr1", "n1");
//! assert_eq!(e.sessions[0].role.to_string(), "rr-client");
//! assert!(e.bgp_peers[0].pairs);
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::identity::{Identity, LocalNode, mesh_enabled};
use crate::model::{BgpPeer, ReversePeering};
use crate::peering::{self, DesiredSession, SessionOrigin, SessionRole};
use crate::snapshot::Snapshot;

/// The explanation for one (reflector, node) pair.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The reflector as it resolves from the datastore.
    pub reflector: LocalNode,
    /// The node as it resolves from the datastore.
    pub node: LocalNode,
    /// False when the datastore has no Node of that name.
    pub node_exists: bool,
    /// The reflector's sessions with the node (one per address family), as the daemon computes them.
    pub sessions: Vec<DesiredSession>,
    /// The node's sessions with the reflector, as calico-node (confd) computes them on the node.
    pub node_sessions: Vec<DesiredSession>,
    /// Every BGPPeer, with whether and why it pairs the two.
    pub bgp_peers: Vec<PeerVerdict>,
    /// Whether the node-to-node mesh pairs them, and why.
    pub mesh: String,
    /// Role reasoning for each of the reflector's sessions, in the order of `sessions`.
    pub roles: Vec<String>,
    /// The peering computation's warnings that name the node or the reflector.
    pub warnings: Vec<String>,
}

impl Explanation {
    /// True when the reflector has at least one session with the node.
    pub fn paired(&self) -> bool {
        !self.sessions.is_empty()
    }
}

/// One BGPPeer's verdict for a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerVerdict {
    /// The BGPPeer name.
    pub name: String,
    /// True when this BGPPeer selects the pair (forward or reverse); the first one in the computation's order
    /// wins when several do.
    pub pairs: bool,
    /// What matched, or the first field that did not.
    pub reason: String,
}

/// Explains the peering between `reflector` and `node` (both Calico node names).
pub fn explain(snap: &Snapshot, reflector: &str, node: &str) -> Explanation {
    explain_identity(snap, &Identity::named(reflector), node)
}

/// Explains the peering between the reflector with identity `r_id` and `node`: for a standalone reflector
/// (no Node resource), the identity rr-daemon is given by its flags (`--nodename`, `--ip`, `--ip6`,
/// `--cluster-id`, `--as`); with only a name it is [`explain`].
pub fn explain_identity(snap: &Snapshot, r_id: &Identity, node: &str) -> Explanation {
    let reflector = r_id.node_name.as_str();
    let n_id = Identity::named(node);
    let r = r_id.resolve(snap);
    let n = n_id.resolve(snap);
    let r_peering = peering::compute(snap, r_id);
    let sessions: Vec<DesiredSession> = r_peering
        .sessions
        .iter()
        .filter(|s| s.peer_node.as_deref() == Some(node))
        .cloned()
        .collect();
    let n_peering = peering::compute(snap, &n_id);
    let node_sessions = n_peering
        .sessions
        .iter()
        // By name (a BGPPeer's peerSelector or node) or by address (a BGPPeer's peerIP, the only way to
        // point at a standalone reflector).
        .filter(|s| s.peer_node.as_deref() == Some(reflector) || r.owns(s.peer_ip))
        .cloned()
        .collect();
    let bgp_peers = snap.peers.values().map(|p| verdict(snap, p, &r, &n)).collect();
    let mesh = mesh_verdict(snap, &r, &n);
    let roles = sessions.iter().map(|s| role_reason(s, &r, &n)).collect();
    let quoted = [format!("{node:?}"), format!("{reflector:?}")];
    let warnings = r_peering
        .warnings
        .iter()
        .chain(&n_peering.warnings)
        .filter(|w| quoted.iter().any(|q| w.contains(q.as_str())))
        .cloned()
        .collect();
    Explanation {
        reflector: r,
        node_exists: snap.nodes.contains_key(node),
        node: n,
        sessions,
        node_sessions,
        bgp_peers,
        mesh,
        roles,
        warnings,
    }
}

fn labels_text(n: &LocalNode) -> String {
    if n.labels.is_empty() {
        return "no labels".into();
    }
    let mut s = String::new();
    for (k, v) in &n.labels {
        if !s.is_empty() {
            s.push_str(", ");
        }
        let _ = write!(s, "{k}={v}");
    }
    format!("labels {{{s}}}")
}

/// Does the BGPPeer's local side (`node`, `nodeSelector`, or global) take `who`?
fn local_side(p: &BgpPeer, who: &LocalNode) -> Result<String, String> {
    match (&p.spec.node, &p.spec.node_selector) {
        (Some(name), _) if *name == who.name => Ok(format!("node: {name}")),
        (Some(name), _) => Err(format!("node: {name} (not {})", who.name)),
        (None, Some(sel)) if who.has_node && sel.matches(&who.labels) => {
            Ok(format!("nodeSelector `{sel}` matches {}", who.name))
        }
        (None, Some(sel)) => Err(format!(
            "nodeSelector `{sel}` does not match {} ({})",
            who.name,
            labels_text(who)
        )),
        (None, None) => Ok("global (no node, no nodeSelector)".into()),
    }
}

/// Does the BGPPeer's remote side (`peerSelector` or `peerIP`) name `who`?
fn remote_side(p: &BgpPeer, who: &LocalNode) -> Result<String, String> {
    if let Some(sel) = &p.spec.peer_selector {
        return if who.has_node && sel.matches(&who.labels) {
            Ok(format!("peerSelector `{sel}` matches {}", who.name))
        } else {
            Err(format!(
                "peerSelector `{sel}` does not match {} ({})",
                who.name,
                labels_text(who)
            ))
        };
    }
    match p.spec.peer_ip {
        Some(pip) if who.owns(pip.ip) => Ok(format!("peerIP {} is {}'s address", pip.ip, who.name)),
        Some(pip) => Err(format!(
            "peerIP {} is not {}'s address ({})",
            pip.ip,
            who.name,
            addrs(who)
        )),
        None => Err("neither peerIP nor peerSelector".into()),
    }
}

fn addrs(n: &LocalNode) -> String {
    let a: Vec<String> = [n.ipv4, n.ipv6]
        .into_iter()
        .flatten()
        .map(|a| a.to_string())
        .collect();
    if a.is_empty() {
        "no address".into()
    } else {
        a.join(", ")
    }
}

fn verdict(snap: &Snapshot, p: &BgpPeer, r: &LocalNode, n: &LocalNode) -> PeerVerdict {
    let name = p.name().to_string();
    if p.spec.local_workload_selector.is_some() {
        return PeerVerdict {
            name,
            pairs: false,
            reason: "localWorkloadSelector: peers with workloads, not nodes".into(),
        };
    }
    // Forward on the reflector: the BGPPeer applies to the reflector and names the node.
    let fwd = local_side(p, r).and_then(|l| remote_side(p, n).map(|m| format!("{l}; {m}")));
    if let Ok(why) = &fwd {
        return PeerVerdict {
            name,
            pairs: true,
            reason: format!("on {}: {why}", r.name),
        };
    }
    // Forward on the node, which the reflector mirrors as a reverse peering.
    let rev = local_side(p, n).and_then(|l| remote_side(p, r).map(|m| format!("{l}; {m}")));
    match rev {
        Ok(why) if p.spec.reverse_peering == Some(ReversePeering::Manual) => PeerVerdict {
            name,
            pairs: false,
            reason: format!(
                "applies on {} ({why}) but reversePeering: Manual: {} does not peer back",
                n.name, r.name
            ),
        },
        Ok(why) => {
            let as_ok = match p.spec.peer_ip {
                Some(_) if r.as_configured => {
                    let want = p
                        .spec
                        .as_number
                        .filter(|a| a.0 != 0)
                        .unwrap_or(crate::identity::global_as(snap));
                    if want == r.as_number {
                        Ok(())
                    } else {
                        Err(format!(
                            "asNumber {want} is not {}'s AS {}: no reverse peering",
                            r.name, r.as_number
                        ))
                    }
                }
                _ => Ok(()),
            };
            match as_ok {
                Ok(()) => PeerVerdict {
                    name,
                    pairs: true,
                    reason: format!("reverse, on {}: {why}", n.name),
                },
                Err(e) => PeerVerdict {
                    name,
                    pairs: false,
                    reason: format!("on {}: {why}; but {e}", n.name),
                },
            }
        }
        Err(rev_err) => PeerVerdict {
            name,
            pairs: false,
            reason: format!(
                "on {}: {}; on {}: {rev_err}",
                r.name,
                fwd.err().unwrap_or_default(),
                n.name
            ),
        },
    }
}

fn mesh_verdict(snap: &Snapshot, r: &LocalNode, n: &LocalNode) -> String {
    if !mesh_enabled(snap) {
        return "off: BGPConfiguration default has nodeToNodeMeshEnabled: false".into();
    }
    if let Some(c) = r.cluster_id {
        return format!(
            "on, but {} has cluster id {c}: reflectors do not join the node-to-node mesh",
            r.name
        );
    }
    if let Some(c) = n.cluster_id {
        return format!(
            "on, but {} has cluster id {c}: reflectors do not join the node-to-node mesh",
            n.name
        );
    }
    format!("on: {} and {} mesh as plain iBGP peers", r.name, n.name)
}

fn role_reason(s: &DesiredSession, r: &LocalNode, n: &LocalNode) -> String {
    let fam = if s.peer_ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let who_connects = if s.options.passive {
        format!("{} waits for {} to connect", r.name, n.name)
    } else {
        "both sides connect (RFC 4271 6.8 collision detection keeps one)".into()
    };
    let why = match s.role {
        SessionRole::Ebgp => format!(
            "eBGP: {}'s AS {} differs from the local AS {}",
            n.name, s.remote_as, s.local_as
        ),
        SessionRole::ReflectorMesh => format!(
            "reflector-mesh (non-client): both have cluster id {}; routes from clients are reflected to {}, \
             and its routes go to clients only (RFC 4456 8)",
            opt_ip(r.cluster_id),
            n.name
        ),
        SessionRole::RouteReflectorClient => format!(
            "rr-client: {} has cluster id {} and {} {}; same AS {}",
            r.name,
            opt_ip(r.cluster_id),
            n.name,
            match s.peer_cluster_id {
                Some(c) => format!("has a different one ({c})"),
                None => "has none".into(),
            },
            s.local_as
        ),
        SessionRole::NodeMesh => "node-mesh: plain iBGP, neither has a cluster id".into(),
        SessionRole::NonClientIbgp | SessionRole::ExternalIbgp => format!(
            "{}: {} has no cluster id, so it does not reflect to {}",
            s.role, r.name, n.name
        ),
    };
    let origin = match &s.origin {
        SessionOrigin::BgpPeer { name, reverse: false } => format!("BGPPeer {name}"),
        SessionOrigin::BgpPeer { name, reverse: true } => format!("BGPPeer {name} (reverse)"),
        SessionOrigin::NodeMesh => "node-to-node mesh".into(),
    };
    format!(
        "{fam} {} -> {} port {} from {origin}: {why}; {who_connects}",
        s.local_ip, s.peer_ip, s.peer_port
    )
}

fn opt_ip(a: Option<std::net::Ipv4Addr>) -> String {
    a.map_or_else(|| "-".into(), |a| a.to_string())
}

/// An address of either family, for callers formatting [`LocalNode`]s.
pub fn addresses(n: &LocalNode) -> Vec<IpAddr> {
    [n.ipv4, n.ipv6].into_iter().flatten().collect()
}
