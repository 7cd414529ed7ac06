//! etcd v3 backend (Calico `/calico/resources/v3/projectcalico.org/...` keys).
