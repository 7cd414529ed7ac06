//! Who this reflector is: its node name and the addresses, AS and cluster id it speaks with.
//!
//! The reflector's own Node resource (if any) is authoritative for its cluster id and supplies its addresses
//! and AS; configuration (the old container's `IP`, `IP6`, plus a cluster id and AS) fills in what the Node
//! lacks. A reflector without a Node resource is *standalone*: it is referenced from BGPPeers by `peerIP`, and
//! its clients are discovered from those peerings.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{AsNumber, BgpConfiguration};
use crate::snapshot::Snapshot;

/// The default BGP port.
pub const BGP_PORT: u16 = 179;

/// Configured identity of the reflector (from flags or environment).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// The node name (`NODENAME`); its Node resource, if one exists, supplies the values below.
    pub node_name: String,
    /// IPv4 address (`IP`), used when the Node has none or there is no Node.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address (`IP6`), used when the Node has none or there is no Node.
    pub ipv6: Option<Ipv6Addr>,
    /// Cluster id, used only when there is no Node resource (a standalone reflector).
    pub cluster_id: Option<Ipv4Addr>,
    /// AS number, used when the Node sets none. A standalone reflector without one takes the AS each BGPPeer
    /// that points at it names (like the old container).
    pub as_number: Option<AsNumber>,
}

impl Identity {
    /// An identity with only a node name.
    pub fn named(node_name: impl Into<String>) -> Self {
        Identity {
            node_name: node_name.into(),
            ..Identity::default()
        }
    }

    /// Resolves the identity against the datastore contents.
    pub fn resolve(&self, snap: &Snapshot) -> LocalNode {
        let global_as = global_as(snap);
        let listen_port = listen_port(snap, &self.node_name);
        match snap.nodes.get(&self.node_name) {
            Some(node) => LocalNode {
                name: self.node_name.clone(),
                ipv4: node.ipv4().or(self.ipv4.map(IpAddr::V4)),
                ipv6: node.ipv6().or(self.ipv6.map(IpAddr::V6)),
                as_number: node.as_number().or(self.as_number).unwrap_or(global_as),
                as_configured: true,
                cluster_id: node.cluster_id(),
                labels: node.metadata.labels.clone(),
                listen_port,
                has_node: true,
            },
            None => LocalNode {
                name: self.node_name.clone(),
                ipv4: self.ipv4.map(IpAddr::V4),
                ipv6: self.ipv6.map(IpAddr::V6),
                as_number: self.as_number.unwrap_or(global_as),
                as_configured: self.as_number.is_some(),
                cluster_id: self.cluster_id,
                labels: BTreeMap::new(),
                listen_port,
                has_node: false,
            },
        }
    }
}

/// The resolved identity the peering computation works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    /// Node name.
    pub name: String,
    /// IPv4 address (router id and IPv4 session source).
    pub ipv4: Option<IpAddr>,
    /// IPv6 address (IPv6 session source).
    pub ipv6: Option<IpAddr>,
    /// Local AS: the Node's, else configured, else the global AS, else 64512.
    pub as_number: AsNumber,
    /// False for a standalone reflector whose AS was not configured: it adopts each pointing BGPPeer's AS.
    pub as_configured: bool,
    /// Cluster id: set means this node reflects.
    pub cluster_id: Option<Ipv4Addr>,
    /// Labels (empty for a standalone reflector).
    pub labels: BTreeMap<String, String>,
    /// The BGP port to listen on (`node.<name>` listenPort, else global, else 179).
    pub listen_port: u16,
    /// Whether a Node resource backs this identity.
    pub has_node: bool,
}

impl LocalNode {
    /// The address of the given family.
    pub fn ip_for(&self, v4: bool) -> Option<IpAddr> {
        if v4 { self.ipv4 } else { self.ipv6 }
    }

    /// True if `ip` is one of our addresses.
    pub fn owns(&self, ip: IpAddr) -> bool {
        self.ipv4 == Some(ip) || self.ipv6 == Some(ip)
    }

    /// The router id: the IPv4 address, else the cluster id, else none.
    pub fn router_id(&self) -> Option<Ipv4Addr> {
        match self.ipv4 {
            Some(IpAddr::V4(a)) => Some(a),
            _ => self.cluster_id,
        }
    }
}

/// The global AS: `BGPConfiguration default` `asNumber`, else 64512.
pub fn global_as(snap: &Snapshot) -> AsNumber {
    snap.global_config()
        .and_then(|c| c.spec.as_number)
        .unwrap_or(AsNumber::CALICO_DEFAULT)
}

/// The listen port of `node`: `node.<node>` listenPort, else the global one, else 179.
pub fn listen_port(snap: &Snapshot, node: &str) -> u16 {
    let non_zero = |c: &BgpConfiguration| c.spec.listen_port.filter(|p| *p != 0);
    snap.node_config(node)
        .and_then(non_zero)
        .or_else(|| snap.global_config().and_then(non_zero))
        .unwrap_or(BGP_PORT)
}

/// Whether the node-to-node mesh is enabled (`BGPConfiguration default`, default true).
pub fn mesh_enabled(snap: &Snapshot) -> bool {
    snap.global_config()
        .and_then(|c| c.spec.node_to_node_mesh_enabled)
        .unwrap_or(true)
}
