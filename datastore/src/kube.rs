//! Kubernetes API backend (core/v1 Nodes with `projectcalico.org/*` annotations, Calico CRDs).
