//! Calico etcd keys: `<prefix>/<plural>/<name>` for the cluster-scoped kinds a reflector reads
//! (`libcalico-go/lib/backend/model/resource.go`, `defaultPath`).

use crate::model::Kind;

use super::error::EtcdError;

/// Number of watched kinds (one watcher each).
pub(crate) const KINDS: usize = Kind::ALL.len();

/// Key layout of a [`Kind`] under a prefix.
pub(crate) trait EtcdKeys: Copy {
    /// Index in [`Kind::ALL`] (also the watch id).
    fn index(self) -> usize;
    /// The key prefix of this kind, with its trailing slash.
    fn dir(self, prefix: &str) -> String;
    /// The key of one resource; names must be non-empty and free of `/` (cluster-scoped kinds).
    fn key(self, prefix: &str, name: &str) -> Result<String, EtcdError>;
    /// The name in a key found under [`EtcdKeys::dir`], or why it is not one.
    fn name_of(self, prefix: &str, key: &[u8]) -> Result<String, String>;
}

impl EtcdKeys for Kind {
    fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    fn dir(self, prefix: &str) -> String {
        format!("{}/{}/", prefix.trim_end_matches('/'), self.plural())
    }

    fn key(self, prefix: &str, name: &str) -> Result<String, EtcdError> {
        if name.is_empty() || name.contains('/') {
            return Err(EtcdError::InvalidName(name.to_owned()));
        }
        Ok(format!("{}{name}", self.dir(prefix)))
    }

    fn name_of(self, prefix: &str, key: &[u8]) -> Result<String, String> {
        let key = std::str::from_utf8(key).map_err(|_| "key is not UTF-8".to_owned())?;
        let dir = self.dir(prefix);
        let name = key
            .strip_prefix(&dir)
            .ok_or_else(|| format!("key is not under {dir}"))?;
        if name.is_empty() || name.contains('/') {
            return Err(format!(
                "{name:?} is not a {} name (cluster-scoped kinds have no '/')",
                self.plural()
            ));
        }
        Ok(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::config::CALICO_PREFIX;

    #[test]
    fn keys_follow_calico_layout() {
        assert_eq!(
            Kind::Node.key(CALICO_PREFIX, "kube-master").expect("valid name"),
            "/calico/resources/v3/projectcalico.org/nodes/kube-master"
        );
        assert_eq!(
            Kind::BgpConfiguration
                .key(CALICO_PREFIX, "node.rr1")
                .expect("valid name"),
            "/calico/resources/v3/projectcalico.org/bgpconfigurations/node.rr1"
        );
        assert_eq!(
            Kind::BgpPeer.dir(CALICO_PREFIX),
            "/calico/resources/v3/projectcalico.org/bgppeers/"
        );
        assert_eq!(
            Kind::IpPool.dir(CALICO_PREFIX),
            "/calico/resources/v3/projectcalico.org/ippools/"
        );
        assert!(Kind::BgpPeer.key(CALICO_PREFIX, "a/b").is_err());
        assert!(Kind::IpPool.key(CALICO_PREFIX, "").is_err());
    }

    #[test]
    fn names_parse_back_and_oddities_are_explained() {
        let k = Kind::BgpPeer;
        let key = k.key(CALICO_PREFIX, "peer-1").expect("valid name");
        assert_eq!(k.name_of(CALICO_PREFIX, key.as_bytes()).as_deref(), Ok("peer-1"));
        let nested = format!("{}ns/peer", k.dir(CALICO_PREFIX));
        assert!(k.name_of(CALICO_PREFIX, nested.as_bytes()).is_err());
        assert!(k.name_of(CALICO_PREFIX, b"/other/x").is_err());
        assert!(k.name_of(CALICO_PREFIX, b"\xff\xfe").is_err());
    }

    #[test]
    fn kinds_do_not_share_prefixes() {
        for a in Kind::ALL {
            assert_eq!(Kind::ALL[a.index()], a);
            for b in Kind::ALL {
                if a != b {
                    assert!(!a.dir(CALICO_PREFIX).starts_with(&b.dir(CALICO_PREFIX)));
                }
            }
        }
    }
}
