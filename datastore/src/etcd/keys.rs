//! Calico etcd keys: `<prefix>/<plural>/<name>` for the cluster-scoped kinds a reflector reads.

use super::error::EtcdError;

/// The resource kinds the backend lists and watches, by their key plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EtcdKind {
    /// `nodes` (Calico Node, with `spec.bgp`).
    Nodes,
    /// `bgppeers`.
    BgpPeers,
    /// `bgpconfigurations` (`default` and `node.<name>`).
    BgpConfigurations,
    /// `ippools`.
    IpPools,
}

impl EtcdKind {
    /// Every kind, in watch-id order.
    pub const ALL: [EtcdKind; 4] = [
        EtcdKind::Nodes,
        EtcdKind::BgpPeers,
        EtcdKind::BgpConfigurations,
        EtcdKind::IpPools,
    ];

    /// The plural used in the key (`libcalico-go` resource plurals).
    pub fn plural(self) -> &'static str {
        match self {
            EtcdKind::Nodes => "nodes",
            EtcdKind::BgpPeers => "bgppeers",
            EtcdKind::BgpConfigurations => "bgpconfigurations",
            EtcdKind::IpPools => "ippools",
        }
    }

    /// Index in [`EtcdKind::ALL`] (also the watch id).
    pub(crate) fn index(self) -> usize {
        match self {
            EtcdKind::Nodes => 0,
            EtcdKind::BgpPeers => 1,
            EtcdKind::BgpConfigurations => 2,
            EtcdKind::IpPools => 3,
        }
    }

    /// The key prefix of this kind, with its trailing slash.
    pub(crate) fn dir(self, prefix: &str) -> String {
        format!("{}/{}/", prefix.trim_end_matches('/'), self.plural())
    }

    /// The key of one resource; names must be non-empty and free of `/` (cluster-scoped kinds).
    pub(crate) fn key(self, prefix: &str, name: &str) -> Result<String, EtcdError> {
        if name.is_empty() || name.contains('/') {
            return Err(EtcdError::InvalidName(name.to_owned()));
        }
        Ok(format!("{}{name}", self.dir(prefix)))
    }

    /// The name in a key found under [`EtcdKind::dir`], or why it is not one.
    pub(crate) fn name_of(self, prefix: &str, key: &[u8]) -> Result<String, String> {
        let key = std::str::from_utf8(key).map_err(|_| "key is not UTF-8".to_owned())?;
        let dir = self.dir(prefix);
        let name = key
            .strip_prefix(&dir)
            .ok_or_else(|| format!("key is not under {dir}"))?;
        if name.is_empty() || name.contains('/') {
            return Err(format!(
                "{:?} is not a {} name (cluster-scoped kinds have no '/')",
                name,
                self.plural()
            ));
        }
        Ok(name.to_owned())
    }
}

impl std::fmt::Display for EtcdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.plural())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::config::CALICO_PREFIX;

    #[test]
    fn keys_follow_calico_layout() {
        assert_eq!(
            EtcdKind::Nodes
                .key(CALICO_PREFIX, "kube-master")
                .expect("valid name"),
            "/calico/resources/v3/projectcalico.org/nodes/kube-master"
        );
        assert_eq!(
            EtcdKind::BgpConfigurations
                .key(CALICO_PREFIX, "node.rr1")
                .expect("valid name"),
            "/calico/resources/v3/projectcalico.org/bgpconfigurations/node.rr1"
        );
        assert!(EtcdKind::BgpPeers.key(CALICO_PREFIX, "a/b").is_err());
        assert!(EtcdKind::IpPools.key(CALICO_PREFIX, "").is_err());
    }

    #[test]
    fn names_parse_back_and_oddities_are_explained() {
        let k = EtcdKind::BgpPeers;
        let key = k.key(CALICO_PREFIX, "peer-1").expect("valid name");
        assert_eq!(k.name_of(CALICO_PREFIX, key.as_bytes()).as_deref(), Ok("peer-1"));
        let nested = format!("{}ns/peer", k.dir(CALICO_PREFIX));
        assert!(k.name_of(CALICO_PREFIX, nested.as_bytes()).is_err());
        assert!(k.name_of(CALICO_PREFIX, b"/other/x").is_err());
        assert!(k.name_of(CALICO_PREFIX, b"\xff\xfe").is_err());
    }

    #[test]
    fn kinds_do_not_share_prefixes() {
        for a in EtcdKind::ALL {
            assert_eq!(EtcdKind::ALL[a.index()], a);
            for b in EtcdKind::ALL {
                if a != b {
                    assert!(!a.dir(CALICO_PREFIX).starts_with(&b.dir(CALICO_PREFIX)));
                }
            }
        }
    }
}
