//! Conversions between Kubernetes objects and Calico resources, as libcalico-go's KDD backend does them.
//!
//! - A Calico `Node` is a core/v1 `Node` (`calico:libcalico-go/lib/backend/k8s/resources/node.go`,
//!   `K8sNodeToCalico`): the BGP spec comes from the `projectcalico.org/*` annotations; the labels selectors see
//!   are the Calico-only labels of the `projectcalico.org/labels` annotation (a JSON map) overwritten by the
//!   Kubernetes node's own labels (`mergeCalicoAndK8sLabels`). Writing a Calico node back only changes those
//!   annotations; a Calico label may not change the value of a Kubernetes label (`restoreCalicoLabels`).
//! - BGPPeer, BGPConfiguration and IPPool are cluster-scoped custom resources whose `spec` is the Calico v3
//!   spec. In the `crd.projectcalico.org/v1` group Calico keeps non-Kubernetes metadata in the
//!   `projectcalico.org/metadata` annotation (`calico:libcalico-go/lib/backend/k8s/resources/resources.go`); it
//!   is hidden from the Calico view.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::group::CalicoApiGroup;
use crate::error::Error;
use crate::model::{AsNumber, Kind, Metadata, Node, NodeAddress, NodeBgpSpec, NodeSpec, Resource};
use crate::store::{Revision, Versioned};

/// `NodeBGPSpec.ipv4Address` (CIDR).
pub const ANN_IPV4_ADDRESS: &str = "projectcalico.org/IPv4Address";
/// `NodeBGPSpec.ipv6Address` (CIDR).
pub const ANN_IPV6_ADDRESS: &str = "projectcalico.org/IPv6Address";
/// `NodeBGPSpec.asNumber` (number or asdot; invalid values are ignored, as Calico does).
pub const ANN_AS_NUMBER: &str = "projectcalico.org/ASNumber";
/// `NodeBGPSpec.routeReflectorClusterID` (IPv4).
pub const ANN_RR_CLUSTER_ID: &str = "projectcalico.org/RouteReflectorClusterID";
/// `NodeBGPSpec.ipv4IPIPTunnelAddr` (IPv4).
pub const ANN_IPIP_TUNNEL_ADDR: &str = "projectcalico.org/IPv4IPIPTunnelAddr";
/// Calico-only node labels (JSON map), merged under the Kubernetes labels.
pub const ANN_LABELS: &str = "projectcalico.org/labels";
/// Non-Kubernetes metadata of a CRD-backed Calico resource (JSON `ObjectMeta`).
pub const ANN_METADATA: &str = "projectcalico.org/metadata";

/// The revision of a Kubernetes `resourceVersion` (numeric in every real API server; unparsable → 0).
pub(crate) fn revision_of(rv: Option<&str>) -> Revision {
    Revision(rv.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0))
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn ann_field(key: &str) -> String {
    format!("metadata.annotations[{key:?}]")
}

/// Converts a core/v1 Node's metadata into the Calico `Node` (and its revision).
///
/// An unparsable IP, cluster id or label annotation makes the record invalid (its error names the annotation);
/// an unparsable AS number is ignored with a log line, as `K8sNodeToCalico` does.
pub fn node_from_k8s(meta: &ObjectMeta) -> Result<Versioned<Resource>, Error> {
    let name = meta.name.clone().unwrap_or_default();
    let rid = format!("Node/{name}");
    if name.is_empty() {
        return Err(Error::invalid(rid, "metadata.name", "\"\"", "name is required"));
    }
    let addr = |key: &str, want_v4: bool| -> Result<Option<NodeAddress>, Error> {
        let Some(text) = annotation(meta, key) else {
            return Ok(None);
        };
        let a: NodeAddress = text
            .parse()
            .map_err(|e: String| Error::invalid(&rid, ann_field(key), text, e))?;
        if a.ip.is_ipv4() != want_v4 {
            let fam = if want_v4 { "an IPv4" } else { "an IPv6" };
            return Err(Error::invalid(
                &rid,
                ann_field(key),
                text,
                format!("expected {fam} CIDR"),
            ));
        }
        Ok(Some(a))
    };
    let v4 = |key: &str| -> Result<Option<Ipv4Addr>, Error> {
        let Some(text) = annotation(meta, key) else {
            return Ok(None);
        };
        text.parse::<Ipv4Addr>()
            .map(Some)
            .map_err(|_| Error::invalid(&rid, ann_field(key), text, "expected an IPv4 address"))
    };
    let as_number = match annotation(meta, ANN_AS_NUMBER) {
        None => None,
        Some(text) => match text.parse::<AsNumber>() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::info!(node = %name, value = text, error = %e,
                    "unable to parse AS number from Kubernetes node annotation; ignoring it");
                None
            }
        },
    };
    let bgp = NodeBgpSpec {
        as_number,
        ipv4_address: addr(ANN_IPV4_ADDRESS, true)?,
        ipv6_address: addr(ANN_IPV6_ADDRESS, false)?,
        ipv4_ipip_tunnel_addr: v4(ANN_IPIP_TUNNEL_ADDR)?,
        route_reflector_cluster_id: v4(ANN_RR_CLUSTER_ID)?,
    };
    // K8sNodeToCalico sets spec.bgp only when some BGP field is set.
    let bgp = (bgp != NodeBgpSpec::default()).then_some(bgp);

    // mergeCalicoAndK8sLabels: Calico-only labels first, then the Kubernetes labels overwrite them.
    let mut labels: BTreeMap<String, String> = match annotation(meta, ANN_LABELS) {
        None => BTreeMap::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                &rid,
                ann_field(ANN_LABELS),
                text,
                format!("expected a JSON map of strings: {e}"),
            )
        })?,
    };
    if let Some(k8s) = &meta.labels {
        labels.extend(k8s.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let node = Node {
        metadata: Metadata {
            name,
            labels,
            resource_version: meta.resource_version.clone(),
            uid: meta.uid.clone(),
            creation_timestamp: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
            ..Metadata::default()
        },
        spec: NodeSpec { bgp },
    };
    Ok(Versioned::new(
        Resource::Node(node),
        revision_of(meta.resource_version.as_deref()),
    ))
}

/// Writes a Calico `Node` into a core/v1 Node's metadata: sets or removes the BGP annotations and stores the
/// labels that are not Kubernetes labels in `projectcalico.org/labels`. Nothing else of the Kubernetes node
/// changes. Fails if a label would change the value of one of the node's Kubernetes labels.
pub fn node_into_k8s(node: &Node, meta: &mut ObjectMeta) -> Result<(), Error> {
    let rid = format!("Node/{}", node.name());
    let bgp = node.spec.bgp.clone().unwrap_or_default();
    let k8s_labels = meta.labels.clone().unwrap_or_default();
    let mut calico_labels = BTreeMap::new();
    for (k, v) in &node.metadata.labels {
        match k8s_labels.get(k) {
            Some(kv) if kv == v => {}
            // restoreCalicoLabels: "may not be used to modify Kubernetes labels".
            Some(_) => {
                return Err(Error::invalid(
                    rid,
                    format!("metadata.labels[{k:?}]"),
                    v,
                    "may not be used to modify Kubernetes labels",
                ));
            }
            None => {
                calico_labels.insert(k.clone(), v.clone());
            }
        }
    }
    let ann = meta.annotations.get_or_insert_with(BTreeMap::new);
    let mut set = |key: &str, value: Option<String>| match value {
        Some(v) => {
            ann.insert(key.to_owned(), v);
        }
        None => {
            ann.remove(key);
        }
    };
    set(ANN_IPV4_ADDRESS, bgp.ipv4_address.map(|a| a.to_string()));
    set(ANN_IPV6_ADDRESS, bgp.ipv6_address.map(|a| a.to_string()));
    set(ANN_AS_NUMBER, bgp.as_number.map(|a| a.to_string()));
    set(
        ANN_RR_CLUSTER_ID,
        bgp.route_reflector_cluster_id.map(|a| a.to_string()),
    );
    set(
        ANN_IPIP_TUNNEL_ADDR,
        bgp.ipv4_ipip_tunnel_addr.map(|a| a.to_string()),
    );
    let labels_json = (!calico_labels.is_empty()).then(|| json!(calico_labels).to_string());
    set(ANN_LABELS, labels_json);
    Ok(())
}

/// Converts a Calico custom resource (either API group) into the Calico resource of `kind`.
pub fn resource_from_crd(kind: Kind, obj: &DynamicObject) -> Result<Versioned<Resource>, Error> {
    let meta = &obj.metadata;
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    annotations.remove(ANN_METADATA);
    let metadata = Metadata {
        name: meta.name.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations,
        resource_version: meta.resource_version.clone(),
        uid: meta.uid.clone(),
        creation_timestamp: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        ..Metadata::default()
    };
    let mut v = json!({
        "apiVersion": crate::model::API_VERSION,
        "kind": kind.as_str(),
        "metadata": serde_json::to_value(&metadata).unwrap_or(Value::Null),
    });
    if let Some(spec) = obj.data.get("spec") {
        v["spec"] = spec.clone();
    }
    let r = Resource::from_value_of(kind, v)?;
    Ok(Versioned::new(r, revision_of(meta.resource_version.as_deref())))
}

/// Builds the custom resource object for a Calico resource in `group`, with `resource_version` for a
/// compare-and-swap replace (none for a create).
pub fn crd_from_resource(
    r: &Resource,
    group: CalicoApiGroup,
    resource_version: Option<String>,
) -> DynamicObject {
    let md = r.metadata();
    let mut annotations = md.annotations.clone();
    if group == CalicoApiGroup::CrdV1 {
        // resources.go keeps the Calico-only metadata here; labels and annotations live on the object itself.
        let mut extra = serde_json::Map::new();
        if let Some(t) = &md.creation_timestamp {
            extra.insert("creationTimestamp".into(), json!(t));
        }
        annotations.insert(ANN_METADATA.to_owned(), Value::Object(extra).to_string());
    }
    let spec = r.to_value().get("spec").cloned().unwrap_or_else(|| json!({}));
    DynamicObject {
        types: Some(kube::api::TypeMeta {
            api_version: group.api_version().to_owned(),
            kind: r.kind().as_str().to_owned(),
        }),
        metadata: ObjectMeta {
            name: Some(md.name.clone()),
            labels: (!md.labels.is_empty()).then(|| md.labels.clone()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            resource_version,
            ..ObjectMeta::default()
        },
        data: json!({ "spec": spec }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> ObjectMeta {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        ObjectMeta {
            name: Some("n1".into()),
            resource_version: Some("42".into()),
            annotations: Some(m(annotations)),
            labels: Some(m(labels)),
            ..ObjectMeta::default()
        }
    }

    fn node(v: Versioned<Resource>) -> Node {
        match v.value {
            Resource::Node(n) => n,
            other => panic!("not a node: {other:?}"),
        }
    }

    #[test]
    fn annotations_become_bgp_spec() {
        let m = meta(
            &[
                (ANN_IPV4_ADDRESS, "10.0.1.10/24"),
                (ANN_IPV6_ADDRESS, "fd00:10::10/64"),
                (ANN_AS_NUMBER, "1.10"),
                (ANN_RR_CLUSTER_ID, "244.0.0.1"),
            ],
            &[],
        );
        let v = node_from_k8s(&m).expect("valid");
        assert_eq!(v.revision, Revision(42));
        let n = node(v);
        assert_eq!(n.ipv4(), Some("10.0.1.10".parse().expect("ip")));
        assert_eq!(n.ipv6(), Some("fd00:10::10".parse().expect("ip")));
        assert_eq!(n.as_number(), Some(AsNumber(65546)));
        assert_eq!(n.cluster_id(), Some(Ipv4Addr::new(244, 0, 0, 1)));
    }

    #[test]
    fn no_bgp_annotations_no_bgp_spec() {
        let n = node(node_from_k8s(&meta(&[("other", "x")], &[])).expect("valid"));
        assert_eq!(n.spec.bgp, None);
    }

    #[test]
    fn bad_as_number_is_ignored_bad_address_is_invalid() {
        let n = node(
            node_from_k8s(&meta(
                &[(ANN_IPV4_ADDRESS, "10.0.0.1/8"), (ANN_AS_NUMBER, "x")],
                &[],
            ))
            .expect("ok"),
        );
        assert_eq!(n.as_number(), None);
        assert!(n.ipv4().is_some());
        let e = node_from_k8s(&meta(&[(ANN_IPV4_ADDRESS, "10.0.0.300/8")], &[])).expect_err("bad ip");
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field.contains(ANN_IPV4_ADDRESS)),
            "{e}"
        );
        let e = node_from_k8s(&meta(&[(ANN_IPV4_ADDRESS, "fd00::1/64")], &[])).expect_err("wrong family");
        assert!(matches!(&e, Error::Invalid { .. }), "{e}");
        let e = node_from_k8s(&meta(&[(ANN_RR_CLUSTER_ID, "not-an-ip")], &[])).expect_err("bad id");
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field.contains(ANN_RR_CLUSTER_ID)),
            "{e}"
        );
        let e = node_from_k8s(&meta(&[(ANN_LABELS, "[1,2]")], &[])).expect_err("bad labels");
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field.contains(ANN_LABELS)),
            "{e}"
        );
    }

    #[test]
    fn kubernetes_labels_overwrite_calico_labels() {
        let m = meta(
            &[(ANN_LABELS, r#"{"rack":"r1","route-reflector":"false"}"#)],
            &[("route-reflector", "true")],
        );
        let n = node(node_from_k8s(&m).expect("valid"));
        let want: BTreeMap<String, String> = [("rack", "r1"), ("route-reflector", "true")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(n.metadata.labels, want);
    }

    #[test]
    fn node_write_back_keeps_kubernetes_labels_out_of_the_annotation() {
        let mut m = meta(
            &[(ANN_AS_NUMBER, "64512"), ("keep", "me")],
            &[("kubernetes.io/hostname", "n1")],
        );
        let mut n = node(node_from_k8s(&m).expect("valid"));
        n.metadata.labels.insert("route-reflector".into(), "true".into());
        n.spec
            .bgp
            .get_or_insert_with(NodeBgpSpec::default)
            .route_reflector_cluster_id = Some(Ipv4Addr::new(244, 0, 0, 1));
        n.spec.bgp.get_or_insert_with(NodeBgpSpec::default).as_number = None;
        node_into_k8s(&n, &mut m).expect("write");
        let ann = m.annotations.clone().expect("annotations");
        assert_eq!(ann.get(ANN_RR_CLUSTER_ID).map(String::as_str), Some("244.0.0.1"));
        assert_eq!(ann.get(ANN_AS_NUMBER), None);
        assert_eq!(ann.get("keep").map(String::as_str), Some("me"));
        assert_eq!(
            ann.get(ANN_LABELS).map(String::as_str),
            Some(r#"{"route-reflector":"true"}"#)
        );
        // Round trip gives the same Calico node.
        let back = node(node_from_k8s(&m).expect("valid"));
        assert_eq!(back.metadata.labels, n.metadata.labels);
        assert_eq!(back.spec, n.spec);
        // Changing a Kubernetes label through Calico is refused.
        n.metadata
            .labels
            .insert("kubernetes.io/hostname".into(), "other".into());
        assert!(matches!(node_into_k8s(&n, &mut m), Err(Error::Invalid { .. })));
    }
}
