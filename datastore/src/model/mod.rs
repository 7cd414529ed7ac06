//! Calico `projectcalico.org/v3` resource types, compatible with what calicoctl and Calico write.
//!
//! Reading goes through [`Resource::from_value`] (or the JSON/YAML helpers), which accepts exactly what Calico
//! accepts, ignores unknown fields, and turns every bad value into [`Error::Invalid`] naming the resource, the
//! field path (e.g. `spec.asNumber`) and the offending value.

mod bgpconfig;
mod bgpfilter;
mod bgppeer;
mod ippool;
mod node;
mod types;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use bgpconfig::{BgpConfiguration, BgpConfigurationSpec, Community, PrefixAdvertisement, ServiceIpBlock};
pub use bgpfilter::{
    AddCommunity, BgpFilter, BgpFilterRule, BgpFilterSpec, CommunityMatch, CommunityValue, FilterAction,
    FilterOperation, FilterPeerType, FilterSource, MatchOperator, PRIORITY_RANGE, PrefixLength,
    PrependAsPath, RuleList, SetPriority,
};
pub use bgppeer::{
    BgpPassword, BgpPeer, BgpPeerSpec, NextHopMode, ReversePeering, SecretKeyRef, SourceAddress,
};
pub use ippool::{IpPool, IpPoolSpec};
pub use node::{Node, NodeBgpSpec, NodeSpec};
pub use types::{AsNumber, GoDuration, NodeAddress, PeerIp};

use crate::error::Error;

/// The API version calicoctl writes.
pub const API_VERSION: &str = "projectcalico.org/v3";
/// The API version of Calico's legacy Kubernetes CRDs (accepted on input).
pub const CRD_API_VERSION: &str = "crd.projectcalico.org/v1";

/// Object metadata (the subset of Kubernetes `ObjectMeta` Calico resources use).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The object name (required).
    #[serde(default)]
    pub name: String,
    /// Namespace (unused by the kinds here, kept for round trips).
    #[serde(
        default,
        deserialize_with = "types::lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace: Option<String>,
    /// Labels, as seen by selectors.
    #[serde(
        default,
        deserialize_with = "types::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "types::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The version string the source reported (informational; backends use [`crate::Revision`]).
    #[serde(
        default,
        deserialize_with = "types::lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_version: Option<String>,
    /// Unique id.
    #[serde(
        default,
        deserialize_with = "types::lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub uid: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(
        default,
        deserialize_with = "types::lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_timestamp: Option<String>,
}

impl Metadata {
    /// Metadata with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Metadata {
            name: name.into(),
            ..Metadata::default()
        }
    }

    /// Metadata with a name and labels.
    pub fn with_labels<K: Into<String>, V: Into<String>>(
        name: impl Into<String>,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Metadata {
            name: name.into(),
            labels: labels.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            ..Metadata::default()
        }
    }
}

/// The resource kinds a reflector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `Node`.
    Node,
    /// `BGPPeer`.
    BgpPeer,
    /// `BGPConfiguration`.
    BgpConfiguration,
    /// `IPPool`.
    IpPool,
    /// `BGPFilter`.
    BgpFilter,
}

impl Kind {
    /// Every kind, in the order backends list them.
    pub const ALL: [Kind; 5] = [
        Kind::Node,
        Kind::BgpPeer,
        Kind::BgpConfiguration,
        Kind::IpPool,
        Kind::BgpFilter,
    ];

    /// The `kind` string of the manifest (`BGPPeer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::BgpPeer => "BGPPeer",
            Kind::BgpConfiguration => "BGPConfiguration",
            Kind::IpPool => "IPPool",
            Kind::BgpFilter => "BGPFilter",
        }
    }

    /// The lowercase plural used in etcd keys and Kubernetes resource paths (`bgppeers`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::BgpPeer => "bgppeers",
            Kind::BgpConfiguration => "bgpconfigurations",
            Kind::IpPool => "ippools",
            Kind::BgpFilter => "bgpfilters",
        }
    }

    /// Parses a kind name as written in manifests or on a command line: `BGPPeer`, `bgppeer`, `bgppeers`.
    pub fn parse(s: &str) -> Option<Kind> {
        let l = s.trim().to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            k.as_str().eq_ignore_ascii_case(&l) || k.plural() == l || k.plural().trim_end_matches('s') == l
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any resource of the kinds in [`Kind`].
///
/// Nodes, by far the most numerous resource of a large cluster, are stored inline; the other kinds are boxed so
/// that a stored Node costs the size of a Node and not that of the largest kind (a BGPPeer is about 2.7 times
/// larger).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "Node is the variant nearly every stored Resource is: boxing it would add an allocation per Node"
)]
pub enum Resource {
    /// A Node.
    Node(Node),
    /// A BGPPeer.
    BgpPeer(Box<BgpPeer>),
    /// A BGPConfiguration.
    BgpConfiguration(Box<BgpConfiguration>),
    /// An IPPool.
    IpPool(Box<IpPool>),
    /// A BGPFilter.
    BgpFilter(Box<BgpFilter>),
}

impl From<Node> for Resource {
    fn from(v: Node) -> Self {
        Resource::Node(v)
    }
}
impl From<BgpPeer> for Resource {
    fn from(v: BgpPeer) -> Self {
        Resource::BgpPeer(Box::new(v))
    }
}
impl From<BgpConfiguration> for Resource {
    fn from(v: BgpConfiguration) -> Self {
        Resource::BgpConfiguration(Box::new(v))
    }
}
impl From<IpPool> for Resource {
    fn from(v: IpPool) -> Self {
        Resource::IpPool(Box::new(v))
    }
}

impl From<BgpFilter> for Resource {
    fn from(v: BgpFilter) -> Self {
        Resource::BgpFilter(Box::new(v))
    }
}

impl Resource {
    /// The resource kind.
    pub fn kind(&self) -> Kind {
        match self {
            Resource::Node(_) => Kind::Node,
            Resource::BgpPeer(_) => Kind::BgpPeer,
            Resource::BgpConfiguration(_) => Kind::BgpConfiguration,
            Resource::IpPool(_) => Kind::IpPool,
            Resource::BgpFilter(_) => Kind::BgpFilter,
        }
    }

    /// The resource metadata.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Resource::Node(r) => &r.metadata,
            Resource::BgpPeer(r) => &r.metadata,
            Resource::BgpConfiguration(r) => &r.metadata,
            Resource::IpPool(r) => &r.metadata,
            Resource::BgpFilter(r) => &r.metadata,
        }
    }

    /// Mutable metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        match self {
            Resource::Node(r) => &mut r.metadata,
            Resource::BgpPeer(r) => &mut r.metadata,
            Resource::BgpConfiguration(r) => &mut r.metadata,
            Resource::IpPool(r) => &mut r.metadata,
            Resource::BgpFilter(r) => &mut r.metadata,
        }
    }

    /// The resource name.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// `Kind/name`, as used in messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }

    /// Parses a manifest whose `kind` field names the kind.
    pub fn from_value(v: Value) -> Result<Resource, Error> {
        let name = value_name(&v);
        let Some(kind_str) = v.get("kind").and_then(Value::as_str) else {
            return Err(Error::invalid(
                name,
                "kind",
                json_text(v.get("kind")),
                "missing or not a string",
            ));
        };
        let Some(kind) = Kind::parse(kind_str) else {
            return Err(Error::invalid(name, "kind", kind_str, "unsupported kind"));
        };
        Resource::from_value_of(kind, v)
    }

    /// Parses a record known to be of `kind` (e.g. from its etcd key). A `kind` field, if present, must agree.
    pub fn from_value_of(kind: Kind, v: Value) -> Result<Resource, Error> {
        let name = value_name(&v);
        let rid = format!("{kind}/{name}");
        if !v.is_object() {
            return Err(Error::invalid(rid, "", short(&v.to_string()), "not an object"));
        }
        if let Some(k) = v.get("kind")
            && k.as_str().and_then(Kind::parse) != Some(kind)
        {
            return Err(Error::invalid(
                rid,
                "kind",
                json_text(Some(k)),
                format!("expected {kind}"),
            ));
        }
        if let Some(av) = v.get("apiVersion")
            && !matches!(av.as_str(), Some(API_VERSION | CRD_API_VERSION))
        {
            return Err(Error::invalid(
                rid,
                "apiVersion",
                json_text(Some(av)),
                format!("expected {API_VERSION}"),
            ));
        }
        let r = match kind {
            Kind::Node => Resource::Node(typed(&rid, &v)?),
            Kind::BgpPeer => {
                let p: BgpPeer = typed(&rid, &v)?;
                p.spec
                    .validate()
                    .map_err(|(field, value, reason)| Error::invalid(&rid, field, value, reason))?;
                Resource::from(p)
            }
            Kind::BgpConfiguration => Resource::BgpConfiguration(typed(&rid, &v)?),
            Kind::IpPool => Resource::IpPool(typed(&rid, &v)?),
            Kind::BgpFilter => {
                let f: BgpFilter = typed(&rid, &v)?;
                f.spec
                    .validate()
                    .map_err(|(field, value, reason)| Error::invalid(&rid, field, value, reason))?;
                Resource::from(f)
            }
        };
        if r.name().is_empty() {
            return Err(Error::invalid(rid, "metadata.name", "\"\"", "name is required"));
        }
        Ok(r)
    }

    /// Parses a JSON manifest (as stored in etcd).
    pub fn from_json(bytes: &[u8]) -> Result<Resource, Error> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::invalid(
                "<json>",
                "",
                short(&String::from_utf8_lossy(bytes)),
                e.to_string(),
            )
        })?;
        Resource::from_value(v)
    }

    /// Parses a JSON record known to be of `kind`.
    pub fn from_json_of(kind: Kind, bytes: &[u8]) -> Result<Resource, Error> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::invalid(
                format!("{kind}/?"),
                "",
                short(&String::from_utf8_lossy(bytes)),
                e.to_string(),
            )
        })?;
        Resource::from_value_of(kind, v)
    }

    /// Parses a single YAML manifest.
    pub fn from_yaml(text: &str) -> Result<Resource, Error> {
        let v: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::invalid("<yaml>", "", short(text), e.to_string()))?;
        Resource::from_value(v)
    }

    /// The manifest as a JSON value: `{"kind","apiVersion","metadata","spec"}` as calicoctl writes it.
    pub fn to_value(&self) -> Value {
        // Serializing these plain data types to a Value cannot fail (string keys only).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The manifest as compact JSON (the etcd value format).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

/// Deserializes `v` as `T`, mapping errors to [`Error::Invalid`] with the field path and the offending value.
fn typed<T: serde::de::DeserializeOwned>(rid: &str, v: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().clone();
        let mut cur = Some(v);
        for seg in path.iter() {
            cur = match seg {
                serde_path_to_error::Segment::Seq { index } => cur.and_then(|c| c.get(*index)),
                serde_path_to_error::Segment::Map { key } => cur.and_then(|c| c.get(key.as_str())),
                _ => cur,
            };
        }
        let field = path.to_string();
        let field = if field == "." { String::new() } else { field };
        Error::invalid(rid, field, json_text(cur), e.into_inner().to_string())
    })
}

fn value_name(v: &Value) -> String {
    v.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

fn json_text(v: Option<&Value>) -> String {
    v.map_or_else(|| "<missing>".to_string(), |v| short(&v.to_string()))
}

fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Manifest<'a, T: Serialize> {
            api_version: &'static str,
            kind: &'static str,
            #[serde(flatten)]
            body: &'a T,
        }
        let kind = self.kind().as_str();
        match self {
            Resource::Node(r) => Manifest {
                api_version: API_VERSION,
                kind,
                body: r,
            }
            .serialize(s),
            Resource::BgpPeer(r) => Manifest {
                api_version: API_VERSION,
                kind,
                body: r,
            }
            .serialize(s),
            Resource::BgpConfiguration(r) => Manifest {
                api_version: API_VERSION,
                kind,
                body: r,
            }
            .serialize(s),
            Resource::IpPool(r) => Manifest {
                api_version: API_VERSION,
                kind,
                body: r,
            }
            .serialize(s),
            Resource::BgpFilter(r) => Manifest {
                api_version: API_VERSION,
                kind,
                body: r,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Resource::from_value(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{Node, Resource};

    /// A stored Node costs the size of a Node, not that of the largest kind (a BGPPeer is about 2.7 times larger):
    /// with 20,000 Nodes the datastore's copies of them are about 8 MB smaller.
    #[test]
    fn a_resource_is_no_larger_than_a_node() {
        assert!(
            size_of::<Resource>() <= size_of::<Node>() + 8,
            "Resource {} bytes, Node {} bytes",
            size_of::<Resource>(),
            size_of::<Node>()
        );
    }
}
