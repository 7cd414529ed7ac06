//! The Calico `IPPool` resource (fields relevant to BGP export).

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::types::{lenient_opt, null_as_false};
use crate::selector::Selector;

/// A Calico IP pool (`projectcalico.org/v3` `IPPool`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPool {
    /// Name and labels.
    pub metadata: Metadata,
    /// The pool spec.
    pub spec: IpPoolSpec,
}

/// `IPPool.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolSpec {
    /// The pool's CIDR.
    pub cidr: ipnet::IpNet,
    /// A disabled pool allocates no addresses.
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disabled: bool,
    /// Routes from this pool are not exported over BGP.
    #[serde(
        rename = "disableBGPExport",
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disable_bgp_export: bool,
    /// `Never` | `Always` | `CrossSubnet`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipip_mode: Option<String>,
    /// `Never` | `Always` | `CrossSubnet`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_mode: Option<String>,
    /// Outgoing NAT for pods in this pool.
    #[serde(
        default,
        deserialize_with = "null_as_false",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub nat_outgoing: bool,
    /// IPAM block size (default 26 for IPv4, 122 for IPv6).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub block_size: Option<u8>,
    /// Nodes that may allocate from this pool.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<Selector>,
}

impl IpPoolSpec {
    /// A pool with only a CIDR.
    pub fn new(cidr: ipnet::IpNet) -> Self {
        IpPoolSpec {
            cidr,
            disabled: false,
            disable_bgp_export: false,
            ipip_mode: None,
            vxlan_mode: None,
            nat_outgoing: false,
            block_size: None,
            node_selector: None,
        }
    }

    /// The IPAM block size, with Calico's defaults (26 for IPv4, 122 for IPv6).
    pub fn effective_block_size(&self) -> u8 {
        self.block_size.unwrap_or(match self.cidr {
            ipnet::IpNet::V4(_) => 26,
            ipnet::IpNet::V6(_) => 122,
        })
    }
}
