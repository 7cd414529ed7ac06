//! The Calico `BGPConfiguration` resource (`default` and `node.<name>`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Metadata;
use super::bgppeer::BgpPassword;
use super::types::{AsNumber, GoDuration, lenient_opt, null_as_empty};

/// A Calico BGP configuration (`projectcalico.org/v3` `BGPConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BgpConfiguration {
    /// Name: `default` (global) or `node.<nodename>` (per-node overrides).
    pub metadata: Metadata,
    /// The configuration spec.
    #[serde(default)]
    pub spec: BgpConfigurationSpec,
}

/// `BGPConfiguration.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfigurationSpec {
    /// `Info` (default), `Debug`, `None`, ...
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_severity_screen: Option<String>,
    /// Full node-to-node mesh (default true).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_to_node_mesh_enabled: Option<bool>,
    /// Global default AS (default 64512); meaningful on `default` only.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub as_number: Option<AsNumber>,
    /// BGP listen port (default 179); global or per node.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub listen_port: Option<u16>,
    /// Service cluster IP ranges to advertise.
    #[serde(
        rename = "serviceClusterIPs",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_cluster_ips: Vec<ServiceIpBlock>,
    /// Service external IP ranges to advertise.
    #[serde(
        rename = "serviceExternalIPs",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_external_ips: Vec<ServiceIpBlock>,
    /// Service LoadBalancer IP ranges to advertise.
    #[serde(
        rename = "serviceLoadBalancerIPs",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_load_balancer_ips: Vec<ServiceIpBlock>,
    /// `Enabled` (default) or `Disabled`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_load_balancer_aggregation: Option<String>,
    /// Named communities.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub communities: Vec<Community>,
    /// Communities attached to advertised prefixes.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub prefix_advertisements: Vec<PrefixAdvertisement>,
    /// Password for node-to-node mesh sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_mesh_password: Option<BgpPassword>,
    /// Graceful restart time for mesh sessions.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_mesh_max_restart_time: Option<GoDuration>,
    /// `None` (default) or `NodeIP`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_mode: Option<String>,
    /// Interfaces excluded from `protocol direct`.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignored_interfaces: Vec<String>,
    /// Local workload peering address (IPv4).
    #[serde(
        rename = "localWorkloadPeeringIPV4",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_workload_peering_ipv4: Option<IpAddr>,
    /// Local workload peering address (IPv6).
    #[serde(
        rename = "localWorkloadPeeringIPV6",
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_workload_peering_ipv6: Option<IpAddr>,
    /// Which cluster routes BIRD programs.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub program_cluster_routes: Option<String>,
}

/// A `{cidr}` entry of the service IP lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceIpBlock {
    /// The range.
    pub cidr: ipnet::IpNet,
}

/// A named community (`"aa:nn"` or large `"aa:nn:mm"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Community {
    /// Name used by prefix advertisements.
    pub name: String,
    /// Community value.
    pub value: String,
}

/// Communities to attach to a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefixAdvertisement {
    /// The prefix.
    pub cidr: ipnet::IpNet,
    /// Community names or literal values.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub communities: Vec<String>,
}

impl BgpConfiguration {
    /// Name of the global configuration.
    pub const DEFAULT_NAME: &'static str = "default";

    /// A configuration with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        BgpConfiguration {
            metadata: Metadata::named(name),
            spec: BgpConfigurationSpec::default(),
        }
    }

    /// The name of the per-node configuration for `node`.
    pub fn node_config_name(node: &str) -> String {
        format!("node.{node}")
    }

    /// The node this configuration applies to, for `node.<name>` objects.
    pub fn node_name(&self) -> Option<&str> {
        self.metadata.name.strip_prefix("node.")
    }
}
