//! Calico datastore model, selectors, peering algorithm and backends (file, etcd v3, Kubernetes).
//!
//! - [`model`]: the `projectcalico.org/v3` resources (Node, BGPPeer, BGPConfiguration, IPPool) with serde.
//! - [`selector`]: Calico's label selector language.
//! - [`store`]: the [`Datastore`] trait every backend implements, with its watch events.
//! - [`snapshot`]: an in-memory copy maintained from a watch.
//! - Backends: [`etcd`] and [`kube`] behind features.

pub mod conformance;
pub mod error;
pub mod file;
pub mod identity;
pub mod model;
pub mod peering;
pub mod selector;
pub mod snapshot;
pub mod store;

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "kubernetes")]
pub mod kube;

pub use error::Error;
pub use file::{FileDatastore, parse_manifests};
pub use identity::{Identity, LocalNode};
pub use model::{AsNumber, BgpConfiguration, BgpPeer, IpPool, Kind, Metadata, Node, PeerIp, Resource};
pub use peering::{DesiredSession, SessionRole, desired_sessions};
pub use selector::Selector;
pub use snapshot::Snapshot;
pub use store::{
    Datastore, InvalidRecord, Listing, Revision, SyncStatus, Versioned, WatchEvent, WatchStream,
};
