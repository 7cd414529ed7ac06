//! The Calico `BGPPeer` resource (every field of `BGPPeerSpec`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::types::{AsNumber, GoDuration, PeerIp, lenient_opt, null_as_empty, null_as_false};
use crate::selector::Selector;

/// A Calico BGP peering (`projectcalico.org/v3` `BGPPeer`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BgpPeer {
    /// Name and labels.
    pub metadata: Metadata,
    /// The peering spec.
    #[serde(default)]
    pub spec: BgpPeerSpec,
}

/// `BGPPeer.spec` (`calico:api/pkg/apis/projectcalico/v3/bgppeer.go`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerSpec {
    /// The peering applies only on this node. With `node_selector` also empty, the peering is global.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub node: Option<String>,
    /// Nodes that should have this peering (exclusive with `node`).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<Selector>,
    /// The remote address, with an optional port (exclusive with `peer_selector`).
    #[serde(
        rename = "peerIP",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_ip: Option<PeerIp>,
    /// Remote AS; must be unset with `peer_selector` (each remote node's AS is used).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub as_number: Option<AsNumber>,
    /// Overrides the local AS for these sessions.
    #[serde(
        rename = "localASNumber",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_as_number: Option<AsNumber>,
    /// Remote Calico nodes to peer with (exclusive with `peer_ip`).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_selector: Option<Selector>,
    /// Deprecated: keep the original next hop (eBGP only); exclusive with `next_hop_mode`.
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub keep_original_next_hop: bool,
    /// Next hop handling; overrides `keep_original_next_hop`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_hop_mode: Option<NextHopMode>,
    /// TCP-MD5 password reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<BgpPassword>,
    /// `UseNodeIP` (default) or `None`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_address: Option<SourceAddress>,
    /// Graceful restart time.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_restart_time: Option<GoDuration>,
    /// Keepalive time (hold time is three times this).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub keepalive_time: Option<GoDuration>,
    /// `allow local as N`: how often our AS may appear in received AS paths.
    #[serde(
        rename = "numAllowedLocalASNumbers",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_allowed_local_as_numbers: Option<u32>,
    /// GTSM (RFC 5082): the peer is at most this many hops away.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl_security: Option<u8>,
    /// Gateway through which the peer is reachable (requires `peer_ip`, same family).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reachable_by: Option<IpAddr>,
    /// Ordered BGPFilter names.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub filters: Vec<String>,
    /// Peering with local workloads (not relevant to a reflector; kept for round trips).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_workload_selector: Option<Selector>,
    /// `Auto` (default): Calico generates the reverse peering between Calico nodes.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reverse_peering: Option<ReversePeering>,
}

/// `BGPPeer.spec.nextHopMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NextHopMode {
    /// BIRD's default behaviour.
    Auto,
    /// `next hop self`.
    #[serde(rename = "Self")]
    SelfHop,
    /// `next hop keep`.
    Keep,
}

/// `BGPPeer.spec.sourceAddress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SourceAddress {
    /// Connect from the node's own IP (default).
    #[default]
    #[serde(rename = "UseNodeIP")]
    UseNodeIp,
    /// Let the kernel pick the source address.
    None,
}

/// `BGPPeer.spec.reversePeering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ReversePeering {
    /// Calico generates the reverse peering automatically (default).
    #[default]
    Auto,
    /// The reverse peering must be configured explicitly.
    Manual,
}

/// A password source (`BGPPassword`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPassword {
    /// The Kubernetes Secret key holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// A reference to a key of a Secret in the calico-node namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
    /// Whether a missing Secret or key is acceptable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl BgpPeer {
    /// A peer with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        BgpPeer {
            metadata: Metadata::named(name),
            spec: BgpPeerSpec::default(),
        }
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// True when the peering applies to every node (no `node`, no `nodeSelector`).
    pub fn is_global(&self) -> bool {
        self.spec.node.is_none() && self.spec.node_selector.is_none()
    }
}

impl BgpPeerSpec {
    /// Checks the cross-field rules Calico's API validation enforces. Returns `(field, value, reason)`.
    pub fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        if let (Some(n), Some(_)) = (&self.node, &self.node_selector) {
            return Err((
                "spec.node",
                n.clone(),
                "node and nodeSelector are mutually exclusive",
            ));
        }
        if let (Some(ip), Some(_)) = (&self.peer_ip, &self.peer_selector) {
            return Err((
                "spec.peerIP",
                ip.to_string(),
                "peerIP and peerSelector are mutually exclusive",
            ));
        }
        if let (Some(asn), Some(_)) = (&self.as_number, &self.peer_selector)
            && asn.0 != 0
        {
            return Err((
                "spec.asNumber",
                asn.to_string(),
                "asNumber must be empty when peerSelector is set",
            ));
        }
        if let (true, Some(m)) = (self.keep_original_next_hop, &self.next_hop_mode) {
            return Err((
                "spec.nextHopMode",
                format!("{m:?}"),
                "keepOriginalNextHop and nextHopMode are mutually exclusive",
            ));
        }
        if let Some(gw) = self.reachable_by {
            match &self.peer_ip {
                None => return Err(("spec.reachableBy", gw.to_string(), "reachableBy requires peerIP")),
                Some(p) if p.ip.is_ipv4() != gw.is_ipv4() => {
                    return Err((
                        "spec.reachableBy",
                        gw.to_string(),
                        "reachableBy must be the same family as peerIP",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
