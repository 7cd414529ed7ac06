//! The Kubernetes permissions the backend uses, as the single list the RBAC manifests in `deploy/kubernetes/`
//! are checked against (`datastore/tests/kube_manifests.rs`).
//!
//! Every API call of the backend names the entry it relies on. Discovery (`GET /apis`) is a non-resource URL
//! that every authenticated identity may read through the built-in `system:discovery` ClusterRole, so it is not
//! listed.

/// Where a permission must be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// Cluster-wide (a ClusterRole bound by a ClusterRoleBinding).
    Cluster,
    /// In the calico namespace only (`NAMESPACE`, default `kube-system`: a Role bound by a RoleBinding).
    Namespace,
}

/// One RBAC rule: verbs on a resource of an API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    /// API group (`""` for core).
    pub api_group: &'static str,
    /// Resource plural.
    pub resource: &'static str,
    /// The verbs.
    pub verbs: &'static [&'static str],
    /// Cluster-wide or in the calico namespace.
    pub scope: Scope,
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE_CRD: &[&str] = &["create", "update", "delete"];

const fn p(
    api_group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    scope: Scope,
) -> Permission {
    Permission {
        api_group,
        resource,
        verbs,
        scope,
    }
}

/// What the reflector (the reading side of the backend) needs:
/// - `get`/`list`/`watch` on core `nodes` ([`crate::Datastore::get`], `list`, `watch`);
/// - `get`/`list`/`watch` on `bgppeers`, `bgpconfigurations`, `ippools`, `bgpfilters` in both Calico groups (the group is
///   chosen at run time);
/// - `get`/`list`/`watch` on `secrets` in the calico namespace (BGP passwords: [`super::KubeSecrets`] reads
///   and watches each Secret a BGPPeer names, by name, as calico-node does).
pub const REQUIRED_PERMISSIONS: &[Permission] = &[
    p("", "nodes", READ, Scope::Cluster),
    p("crd.projectcalico.org", "bgppeers", READ, Scope::Cluster),
    p("crd.projectcalico.org", "bgpconfigurations", READ, Scope::Cluster),
    p("crd.projectcalico.org", "ippools", READ, Scope::Cluster),
    p("crd.projectcalico.org", "bgpfilters", READ, Scope::Cluster),
    p("projectcalico.org", "bgppeers", READ, Scope::Cluster),
    p("projectcalico.org", "bgpconfigurations", READ, Scope::Cluster),
    p("projectcalico.org", "ippools", READ, Scope::Cluster),
    p("projectcalico.org", "bgpfilters", READ, Scope::Cluster),
    p("", "secrets", READ, Scope::Namespace),
];

/// What the writing side adds for `rr-cli` (bound in addition to [`REQUIRED_PERMISSIONS`]):
/// - `update` on `nodes` ([`crate::Datastore::update`] of a Node: annotations and labels only; Calico nodes
///   are never created or deleted through this backend);
/// - `create`/`update`/`delete` on the BGPPeers, BGPConfigurations and BGPFilters in both groups: what
///   `rr-cli apply` and `delete` write. IPPools are read by the reflector but managed with calicoctl (rr-cli
///   refuses them), so no IPPool write is granted.
pub const WRITE_PERMISSIONS: &[Permission] = &[
    p("", "nodes", &["update"], Scope::Cluster),
    p("crd.projectcalico.org", "bgppeers", WRITE_CRD, Scope::Cluster),
    p(
        "crd.projectcalico.org",
        "bgpconfigurations",
        WRITE_CRD,
        Scope::Cluster,
    ),
    p("crd.projectcalico.org", "bgpfilters", WRITE_CRD, Scope::Cluster),
    p("projectcalico.org", "bgppeers", WRITE_CRD, Scope::Cluster),
    p(
        "projectcalico.org",
        "bgpconfigurations",
        WRITE_CRD,
        Scope::Cluster,
    ),
    p("projectcalico.org", "bgpfilters", WRITE_CRD, Scope::Cluster),
];

/// Flattens a permission list into `(scope, api_group, resource, verb)` tuples (for comparisons).
pub fn flatten(perms: &[Permission]) -> Vec<(Scope, String, String, String)> {
    let mut out: Vec<_> = perms
        .iter()
        .flat_map(|p| {
            p.verbs.iter().map(move |v| {
                (
                    p.scope,
                    p.api_group.to_owned(),
                    p.resource.to_owned(),
                    (*v).to_owned(),
                )
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
