//! Which API group holds the Calico resources: the legacy `crd.projectcalico.org/v1` CRDs or the native
//! `projectcalico.org/v3` CRDs.
//!
//! The rule is libcalico-go's `UsingV3CRDs` (`calico:libcalico-go/lib/backend/k8s/discovery.go`):
//! `CALICO_API_GROUP`, when set, decides (`projectcalico.org/v3` means v3); otherwise v3 is used **iff**
//! discovery lists `projectcalico.org` **and not** `crd.projectcalico.org`. When both are served, the aggregated
//! Calico API server is serving v3 on top of the v1 CRDs, so the v1 CRDs are read directly.

use std::fmt;

/// The API group of the Calico custom resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CalicoApiGroup {
    /// `crd.projectcalico.org/v1` (the default KDD install).
    CrdV1,
    /// `projectcalico.org/v3` (native v3 CRDs).
    V3,
}

/// The v1 CRD group name.
pub const CRD_GROUP: &str = "crd.projectcalico.org";
/// The v3 group name.
pub const V3_GROUP: &str = "projectcalico.org";

impl CalicoApiGroup {
    /// The group name.
    pub fn group(self) -> &'static str {
        match self {
            CalicoApiGroup::CrdV1 => CRD_GROUP,
            CalicoApiGroup::V3 => V3_GROUP,
        }
    }

    /// The version.
    pub fn version(self) -> &'static str {
        match self {
            CalicoApiGroup::CrdV1 => "v1",
            CalicoApiGroup::V3 => "v3",
        }
    }

    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        match self {
            CalicoApiGroup::CrdV1 => "crd.projectcalico.org/v1",
            CalicoApiGroup::V3 => "projectcalico.org/v3",
        }
    }

    /// The group a `CALICO_API_GROUP` value selects (`projectcalico.org/v3` → v3, anything else → v1 CRDs), or
    /// `None` when unset or empty.
    pub fn from_env_value(value: Option<&str>) -> Option<CalicoApiGroup> {
        let v = value?.trim();
        if v.is_empty() {
            return None;
        }
        Some(if v == "projectcalico.org/v3" {
            CalicoApiGroup::V3
        } else {
            CalicoApiGroup::CrdV1
        })
    }

    /// The group discovery selects from the API group names the server lists.
    pub fn from_discovery<S: AsRef<str>>(groups: &[S]) -> CalicoApiGroup {
        let has = |g: &str| groups.iter().any(|x| x.as_ref() == g);
        if has(V3_GROUP) && !has(CRD_GROUP) {
            CalicoApiGroup::V3
        } else {
            CalicoApiGroup::CrdV1
        }
    }
}

impl fmt::Display for CalicoApiGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_wins_and_discovery_rule() {
        assert_eq!(
            CalicoApiGroup::from_env_value(Some("projectcalico.org/v3")),
            Some(CalicoApiGroup::V3)
        );
        assert_eq!(
            CalicoApiGroup::from_env_value(Some("crd.projectcalico.org/v1")),
            Some(CalicoApiGroup::CrdV1)
        );
        assert_eq!(CalicoApiGroup::from_env_value(Some(" ")), None);
        assert_eq!(CalicoApiGroup::from_env_value(None), None);
        assert_eq!(
            CalicoApiGroup::from_discovery(&["apps", V3_GROUP]),
            CalicoApiGroup::V3
        );
        assert_eq!(
            CalicoApiGroup::from_discovery(&[CRD_GROUP, V3_GROUP]),
            CalicoApiGroup::CrdV1
        );
        assert_eq!(
            CalicoApiGroup::from_discovery(&[CRD_GROUP]),
            CalicoApiGroup::CrdV1
        );
        assert_eq!(CalicoApiGroup::from_discovery::<&str>(&[]), CalicoApiGroup::CrdV1);
    }
}
