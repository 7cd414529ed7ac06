//! Calico datastore model, selectors, peering algorithm and backends (file, etcd v3, Kubernetes).

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "kubernetes")]
pub mod kube;
