//! The Calico `Node` resource (only what a reflector needs: BGP spec and labels).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::types::{AsNumber, NodeAddress, lenient_opt};

/// A Calico Node (`projectcalico.org/v3` `Node`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Node {
    /// Name, labels (the labels selectors see) and annotations.
    pub metadata: Metadata,
    /// The node spec.
    #[serde(default)]
    pub spec: NodeSpec,
}

/// `Node.spec`: only the BGP part matters to a reflector; other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// BGP configuration of the node; absent on nodes that do not run BGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<NodeBgpSpec>,
}

/// `Node.spec.bgp` (`NodeBGPSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeBgpSpec {
    /// The node's AS; when unset the global AS (`BGPConfiguration default`) applies, else 64512.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub as_number: Option<AsNumber>,
    /// The node's IPv4 address and network, e.g. `10.192.0.2/16`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_address: Option<NodeAddress>,
    /// The node's IPv6 address and network.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_address: Option<NodeAddress>,
    /// IPIP tunnel address (kept for round trips; not used by a reflector).
    #[serde(
        rename = "ipv4IPIPTunnelAddr",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_ipip_tunnel_addr: Option<Ipv4Addr>,
    /// Non-empty: the node is a route reflector with this cluster id.
    #[serde(
        rename = "routeReflectorClusterID",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_reflector_cluster_id: Option<Ipv4Addr>,
}

impl Node {
    /// A node with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        Node {
            metadata: Metadata::named(name),
            spec: NodeSpec::default(),
        }
    }

    /// The node name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The node's IPv4 address, if any.
    pub fn ipv4(&self) -> Option<IpAddr> {
        self.spec.bgp.as_ref()?.ipv4_address.map(|a| a.ip)
    }

    /// The node's IPv6 address, if any.
    pub fn ipv6(&self) -> Option<IpAddr> {
        self.spec.bgp.as_ref()?.ipv6_address.map(|a| a.ip)
    }

    /// The node's own AS number, if set on the node.
    pub fn as_number(&self) -> Option<AsNumber> {
        self.spec.bgp.as_ref()?.as_number
    }

    /// The node's route reflector cluster id, if it is a reflector.
    pub fn cluster_id(&self) -> Option<Ipv4Addr> {
        self.spec.bgp.as_ref()?.route_reflector_cluster_id
    }
}
