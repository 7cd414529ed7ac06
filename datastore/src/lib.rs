//! Calico datastore model, selectors, peering algorithm and backends (file, etcd v3, Kubernetes).
