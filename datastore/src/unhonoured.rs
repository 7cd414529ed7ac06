//! The one list of Calico fields the model parses but the bundled reflector (`rr-daemon`) does not act on.
//!
//! A setting that is read and silently ignored would leak routes an operator filtered, or put the reflector in
//! the data path. [`unhonoured`] names every such field that is set *for this reflector*: on the BGPPeers that
//! produced one of its sessions, on the BGPConfigurations `default` and `node.<name>` it reads, and on the
//! BGPFilters its sessions name. The daemon logs each entry once (while it stays set) and `rr-cli reflector
//! list` prints them, so the list lives here, beside the model, where both reach it.
//!
//! Fields that are honoured are not listed; fields that mean nothing to a reflector (it originates no routes
//! and programs no kernel routes) are listed with that reason, so an operator knows they have no effect.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::model::{BgpConfiguration, RuleList};
use crate::peering::{Peering, SessionOrigin};
use crate::snapshot::Snapshot;

/// Why a field has no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The reflector could act on it but does not yet.
    NotImplemented,
    /// It concerns routes a calico-node originates or programs; a reflector has none.
    MeaninglessForReflector,
    /// It names a resource that does not exist.
    NotFound,
}

impl Reason {
    /// A short explanation.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotImplemented => "not honoured yet",
            Reason::MeaninglessForReflector => "means nothing to a reflector",
            Reason::NotFound => "names nothing",
        }
    }
}

/// One field that is set but not honoured.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Unhonoured {
    /// `Kind/name` of the resource.
    pub resource: String,
    /// Field path, e.g. `spec.filters`.
    pub field: String,
    /// The value set (short).
    pub value: String,
    /// Why it has no effect.
    pub reason: Reason,
    /// What happens instead.
    pub detail: String,
}

impl fmt::Display for Unhonoured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} = {}: {} ({})",
            self.resource,
            self.field,
            self.value,
            self.reason.as_str(),
            self.detail
        )
    }
}

/// Every field set for this reflector (the sessions of `peering`, our BGPConfigurations, the BGPFilters our
/// sessions name) that the daemon does not honour, sorted and without duplicates.
pub fn unhonoured(snap: &Snapshot, peering: &Peering) -> Vec<Unhonoured> {
    let mut out = BTreeSet::new();
    let mut add = |resource: String, field: &str, value: String, reason: Reason, detail: &str| {
        out.insert(Unhonoured {
            resource,
            field: field.to_string(),
            value,
            reason,
            detail: detail.to_string(),
        });
    };
    let mut filter_names = BTreeSet::new();
    for s in &peering.sessions {
        let SessionOrigin::BgpPeer { name, .. } = &s.origin else {
            continue;
        };
        let rid = format!("BGPPeer/{name}");
        let o = &s.options;
        // `filters` are honoured (import and export policy); a filter that does not exist contributes no
        // rule, where calico-node's BIRD would fail to load its configuration.
        for f in &o.filters {
            if !snap.filters.contains_key(f) {
                add(
                    rid.clone(),
                    "spec.filters",
                    f.clone(),
                    Reason::NotFound,
                    "no BGPFilter of that name: it contributes no rule until it is created",
                );
            }
        }
        filter_names.extend(o.filters.iter().cloned());
        if let Some(gw) = o.reachable_by {
            add(
                rid.clone(),
                "spec.reachableBy",
                gw.to_string(),
                Reason::NotImplemented,
                "no static route to the peer is installed: the peer must be reachable by the host's routing",
            );
        }
    }
    for name in &filter_names {
        let Some(f) = snap.filters.get(name) else {
            continue;
        };
        for list in RuleList::ALL {
            for (i, rule) in f.spec.rules(list).iter().enumerate() {
                if let Some(iface) = &rule.interface {
                    add(
                        format!("BGPFilter/{name}"),
                        &format!("spec.{}[{i}].interface", list.as_str()),
                        iface.clone(),
                        Reason::MeaninglessForReflector,
                        "a reflector has no outgoing interface for a route: the rule never matches on it",
                    );
                }
            }
        }
    }
    let node_cfg = BgpConfiguration::node_config_name(&peering.local.name);
    for cfg_name in ["default", node_cfg.as_str()] {
        let Some(c) = snap.configs.get(cfg_name) else {
            continue;
        };
        let rid = format!("BGPConfiguration/{cfg_name}");
        let s = &c.spec;
        if let Some(v) = &s.bind_mode {
            if cfg_name != "default" {
                add(
                    rid.clone(),
                    "spec.bindMode",
                    v.clone(),
                    Reason::NotImplemented,
                    "only BGPConfiguration default's bindMode is read, as calico-node does",
                );
            } else if !matches!(v.as_str(), "None" | "NodeIP") {
                add(
                    rid.clone(),
                    "spec.bindMode",
                    v.clone(),
                    Reason::NotImplemented,
                    "not None or NodeIP: the listener binds to every address, as with None",
                );
            }
        }
        let meaningless: [(&str, bool, String); 9] = [
            (
                "spec.serviceClusterIPs",
                !s.service_cluster_ips.is_empty(),
                cidrs(s.service_cluster_ips.iter().map(|b| b.cidr)),
            ),
            (
                "spec.serviceExternalIPs",
                !s.service_external_ips.is_empty(),
                cidrs(s.service_external_ips.iter().map(|b| b.cidr)),
            ),
            (
                "spec.serviceLoadBalancerIPs",
                !s.service_load_balancer_ips.is_empty(),
                cidrs(s.service_load_balancer_ips.iter().map(|b| b.cidr)),
            ),
            (
                "spec.communities",
                !s.communities.is_empty(),
                s.communities
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "spec.prefixAdvertisements",
                !s.prefix_advertisements.is_empty(),
                cidrs(s.prefix_advertisements.iter().map(|p| p.cidr)),
            ),
            (
                "spec.ignoredInterfaces",
                !s.ignored_interfaces.is_empty(),
                s.ignored_interfaces.join(","),
            ),
            (
                "spec.localWorkloadPeeringIPV4",
                s.local_workload_peering_ipv4.is_some(),
                s.local_workload_peering_ipv4
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            (
                "spec.localWorkloadPeeringIPV6",
                s.local_workload_peering_ipv6.is_some(),
                s.local_workload_peering_ipv6
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            (
                "spec.programClusterRoutes",
                s.program_cluster_routes.is_some(),
                s.program_cluster_routes.clone().unwrap_or_default(),
            ),
        ];
        for (field, set, value) in meaningless {
            if set {
                add(
                    rid.clone(),
                    field,
                    value,
                    Reason::MeaninglessForReflector,
                    "it concerns routes a calico-node originates or programs; the reflector originates none",
                );
            }
        }
    }
    out.into_iter().collect()
}

fn cidrs(it: impl Iterator<Item = ipnet::IpNet>) -> String {
    it.map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}
