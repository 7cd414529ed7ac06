//! Connection settings: endpoints, TLS files, credentials, timeouts and backoff, from code or from the
//! environment the way calico-node reads it (`ETCD_*`, also with a `CALICO_` prefix).

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};

use super::error::EtcdError;

/// The key prefix under which Calico stores `projectcalico.org/v3` resources
/// (`libcalico-go/lib/backend/model/resource.go`, `defaultPath`).
pub const CALICO_PREFIX: &str = "/calico/resources/v3/projectcalico.org";

/// Client TLS material, as PEM files (`ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTlsFiles {
    /// CA bundle that signed the etcd server certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (for `--client-cert-auth`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Client private key; needs `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl EtcdTlsFiles {
    /// True when no file is set.
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// Everything the etcd backend needs to reach the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Endpoint URLs (`http://host:port` or `https://host:port`), tried in turn.
    pub endpoints: Vec<String>,
    /// TLS files; required for `https` endpoints.
    pub tls: EtcdTlsFiles,
    /// Optional etcd username.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// Key prefix of the resources; [`CALICO_PREFIX`] unless testing.
    pub prefix: String,
    /// Timeout of one connection attempt and of one unary request.
    pub request_timeout: Duration,
    /// First retry delay after a failure.
    pub backoff_initial: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// Keys per page when listing.
    pub page_size: i64,
}

impl EtcdConfig {
    /// A configuration for these endpoints with default TLS (none), timeouts (5 s) and backoff
    /// (100 ms doubling to 5 s).
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            tls: EtcdTlsFiles::default(),
            username: None,
            password: None,
            prefix: CALICO_PREFIX.to_owned(),
            request_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            page_size: 500,
        }
    }

    /// Reads `ETCD_ENDPOINTS` (comma-separated), `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`,
    /// `ETCD_USERNAME`, `ETCD_PASSWORD`; each may also carry the `CALICO_` prefix (the prefixed one wins,
    /// as in libcalico-go). Returns `None` when no endpoint is set.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`EtcdConfig::from_env`] over any variable lookup (for tests and for callers that merge flags).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |name: &str| {
            lookup(&format!("CALICO_{name}"))
                .or_else(|| lookup(name))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoints = get("ETCD_ENDPOINTS")?;
        let mut cfg = EtcdConfig::new(
            endpoints
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        );
        cfg.tls = EtcdTlsFiles {
            ca_file: get("ETCD_CA_CERT_FILE").map(PathBuf::from),
            cert_file: get("ETCD_CERT_FILE").map(PathBuf::from),
            key_file: get("ETCD_KEY_FILE").map(PathBuf::from),
        };
        cfg.username = get("ETCD_USERNAME");
        cfg.password = get("ETCD_PASSWORD");
        Some(cfg)
    }

    /// Checks the settings and reads the TLS files: what every connection needs, prepared once.
    pub(crate) fn prepare(&self) -> Result<Prepared, EtcdError> {
        if self.endpoints.is_empty() {
            return Err(EtcdError::Config("no endpoint (ETCD_ENDPOINTS is empty)".into()));
        }
        let mut any_https = false;
        for e in &self.endpoints {
            if e.starts_with("https://") {
                any_https = true;
            } else if !e.starts_with("http://") {
                return Err(EtcdError::Config(format!(
                    "endpoint {e:?} must start with http:// or https://"
                )));
            }
        }
        let tls = if any_https {
            let ca_file = self.tls.ca_file.as_ref().ok_or_else(|| {
                EtcdError::Config("https endpoints need a CA file (ETCD_CA_CERT_FILE)".into())
            })?;
            let ca = read_pem(ca_file, "ETCD_CA_CERT_FILE")?;
            let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(ca));
            match (&self.tls.cert_file, &self.tls.key_file) {
                (Some(cert), Some(key)) => {
                    let cert = read_pem(cert, "ETCD_CERT_FILE")?;
                    let key = read_pem(key, "ETCD_KEY_FILE")?;
                    tls = tls.identity(Identity::from_pem(cert, key));
                }
                (None, None) => {}
                _ => {
                    return Err(EtcdError::Config(
                        "ETCD_CERT_FILE and ETCD_KEY_FILE must be set together".into(),
                    ));
                }
            }
            Some(tls)
        } else {
            if !self.tls.is_empty() {
                return Err(EtcdError::Config(
                    "TLS files are set but no endpoint uses https://".into(),
                ));
            }
            None
        };
        let user = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(EtcdError::Config(
                    "ETCD_USERNAME is set without ETCD_PASSWORD".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(EtcdError::Config(
                    "ETCD_PASSWORD is set without ETCD_USERNAME".into(),
                ));
            }
        };
        if self.page_size <= 0 {
            return Err(EtcdError::Config("page size must be positive".into()));
        }
        Ok(Prepared {
            tls,
            user,
            request_timeout: self.request_timeout,
        })
    }
}

fn read_pem(path: &PathBuf, var: &str) -> Result<Vec<u8>, EtcdError> {
    std::fs::read(path).map_err(|e| EtcdError::Config(format!("{var}: cannot read {}: {e}", path.display())))
}

/// Settings checked and files read, ready to build a client per endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    tls: Option<TlsOptions>,
    user: Option<(String, String)>,
    request_timeout: Duration,
}

impl Prepared {
    /// `etcd-client` options for one endpoint.
    pub(crate) fn options(&self, endpoint: &str) -> ConnectOptions {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(self.request_timeout)
            // HTTP/2 pings detect a silently dead peer under an open watch stream. etcd's server enforces
            // `--grpc-keepalive-min-time` (5 s) and refuses pings on a connection without streams
            // (GOAWAY "too_many_pings"), hence 10 s and no pings while idle.
            .with_keep_alive(Duration::from_secs(10), self.request_timeout)
            .with_keep_alive_while_idle(false);
        if endpoint.starts_with("https://")
            && let Some(tls) = &self.tls
        {
            opts = opts.with_tls(tls.clone());
        }
        if let Some((u, p)) = &self.user {
            opts = opts.with_user(u.clone(), p.clone()).with_auto_token_refresh(true);
        }
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_endpoints_split_and_prefixed_wins() {
        let cfg = EtcdConfig::from_lookup(lookup(&[
            ("ETCD_ENDPOINTS", "http://a:1"),
            ("CALICO_ETCD_ENDPOINTS", " http://b:2 ,, http://c:3"),
            ("ETCD_CA_CERT_FILE", "/ca.pem"),
            ("ETCD_USERNAME", "u"),
        ]))
        .expect("endpoints set");
        assert_eq!(cfg.endpoints, vec!["http://b:2", "http://c:3"]);
        assert_eq!(cfg.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(cfg.username.as_deref(), Some("u"));
        assert_eq!(cfg.prefix, CALICO_PREFIX);
    }

    #[test]
    fn env_without_endpoints_is_none() {
        assert!(EtcdConfig::from_lookup(lookup(&[("ETCD_ENDPOINTS", " ")])).is_none());
    }

    #[test]
    fn prepare_rejects_inconsistent_settings() {
        let err = |cfg: EtcdConfig| cfg.prepare().expect_err("must be refused").to_string();
        assert!(err(EtcdConfig::new(Vec::<String>::new())).contains("no endpoint"));
        assert!(err(EtcdConfig::new(["127.0.0.1:2379"])).contains("http://"));
        assert!(err(EtcdConfig::new(["https://127.0.0.1:2379"])).contains("ETCD_CA_CERT_FILE"));
        let mut cfg = EtcdConfig::new(["http://127.0.0.1:2379"]);
        cfg.tls.ca_file = Some("/nonexistent".into());
        assert!(err(cfg).contains("no endpoint uses https"));
        let mut cfg = EtcdConfig::new(["https://127.0.0.1:2379"]);
        cfg.tls.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(err(cfg).contains("cannot read /nonexistent/ca.pem"));
        let mut cfg = EtcdConfig::new(["http://127.0.0.1:2379"]);
        cfg.password = Some("p".into());
        assert!(err(cfg).contains("without ETCD_USERNAME"));
        assert!(EtcdConfig::new(["http://127.0.0.1:2379"]).prepare().is_ok());
    }
}
