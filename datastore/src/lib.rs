//! Calico datastore model, selectors, peering algorithm and backends (file, etcd v3, Kubernetes).
//!
//! - [`model`]: the `projectcalico.org/v3` resources (Node, BGPPeer, BGPConfiguration, IPPool, BGPFilter) with serde,
//!   compatible with what calicoctl and Calico write.
//! - [`selector`]: Calico's label selector language (parser with positioned errors, evaluator).
//! - [`store`]: the [`Datastore`] trait every backend implements, with its watch events and revisions.
//! - [`snapshot`]: an in-memory copy of all resources, maintained from a watch ([`snapshot::follow`]).
//! - [`identity`] and [`peering`]: who this reflector is, and the sessions it must have
//!   ([`peering::desired_sessions`]), reproducing confd's `updatePeersV1` and client rule.
//! - Backends: [`file`](mod@file) (multi-document YAML, the embedded default), `etcd` and `kube` behind features.
//! - [`policy`]: BGPFilters as a plain, Calico-free route-policy rule list (first match decides).
//! - [`unhonoured`]: the one list of fields set for this reflector that the daemon does not act on.
//! - [`conformance`]: the battery every backend passes.
//!
//! ```
//! use datastore::{Identity, Snapshot, desired_sessions, parse_manifests};
//! let yaml = r#"
//! apiVersion: projectcalico.org/v3
//! kind: Node
//! metadata: {name: rr-1, labels: {route-reflector: "true"}}
//! spec: {bgp: {ipv4Address: 10.0.0.1/24, routeReflectorClusterID: 244.0.0.1}}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: Node
//! metadata: {name: node-1}
//! spec: {bgp: {ipv4Address: 10.0.0.11/24}}
//! ---
//! apiVersion: projectcalico.org/v3
//! kind: BGPPeer
//! metadata: {name: peer-with-route-reflectors}
//! spec: {nodeSelector: all(), peerSelector: route-reflector == 'true'}
//! "#;
//! let (resources, invalid) = parse_manifests("example.yaml", yaml);
//! assert!(invalid.is_empty());
//! let sessions = desired_sessions(&Snapshot::from_resources(resources), &Identity::named("rr-1"));
//! assert_eq!(sessions.len(), 1);
//! assert!(sessions[0].role.is_client());
//! ```

pub mod conformance;
pub mod error;
pub mod explain;
pub mod file;
pub mod identity;
pub mod model;
pub mod peering;
pub mod policy;
pub mod selector;
pub mod snapshot;
pub mod store;
pub mod unhonoured;

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "kubernetes")]
pub mod kube;

pub use error::Error;
pub use file::{FileDatastore, parse_manifests};
pub use identity::{Identity, LocalNode};
pub use model::{
    AsNumber, BgpConfiguration, BgpFilter, BgpPeer, IpPool, Kind, Metadata, Node, PeerIp, Resource,
};
pub use peering::{DesiredSession, SessionRole, desired_sessions};
pub use selector::Selector;
pub use snapshot::Snapshot;
pub use store::{
    Datastore, InvalidRecord, Listing, Revision, SyncStatus, Versioned, WatchEvent, WatchStream,
};
