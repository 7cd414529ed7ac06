//! BGP password Secrets read from the Kubernetes API, for any datastore.
//!
//! calico-node reads the Secret a BGPPeer's `password.secretKeyRef` (or BGPConfiguration `nodeMeshPassword`)
//! names from the Kubernetes API whenever it has Kubernetes credentials, whatever its datastore (confd's
//! `secret_watcher.go`), and watches each such Secret by name (a list and watch with the field selector
//! `metadata.name=NAME`), so that a rotated password reaches BIRD at once. [`KubeSecrets`] does the same: it
//! needs `get`, `list` and `watch` on `secrets` in the calico namespace ([`super::REQUIRED_PERMISSIONS`]).

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};

use super::{KubeConfig, map_transport};
use crate::error::Error;

/// Reads and watches Secrets in one namespace.
#[derive(Clone)]
pub struct KubeSecrets {
    client: kube::Client,
    namespace: String,
}

impl std::fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSecrets")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl KubeSecrets {
    /// Builds a client from the kubeconfig (or the in-cluster service account) of `config`. No request is
    /// made: an unreachable API server shows in [`KubeSecrets::get`] and [`KubeSecrets::watch`].
    pub async fn connect(config: &KubeConfig) -> Result<KubeSecrets, Error> {
        let client = super::client(config).await?;
        Ok(KubeSecrets::from_client(client, config.namespace.clone()))
    }

    /// Secrets of `namespace` through an existing client.
    pub fn from_client(client: kube::Client, namespace: impl Into<String>) -> KubeSecrets {
        KubeSecrets {
            client,
            namespace: namespace.into(),
        }
    }

    /// The namespace read.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// `get` of Secret `name`: the value of `key` (from `data`, else `stringData`), UTF-8.
    pub async fn get(&self, name: &str, key: &str) -> Result<String, Error> {
        let what = format!("Secret {}/{name}", self.namespace);
        let secret = match self.api().get(name).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Error::Backend(format!("{what} not found")));
            }
            Err(e) => return Err(map_transport(&e, &what)),
        };
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|s| s.clone().into_bytes())
            })
            .ok_or_else(|| Error::Backend(format!("{what} has no key {key:?}")))?;
        String::from_utf8(bytes).map_err(|_| {
            Error::invalid(
                what,
                format!("data[{key:?}]"),
                "<binary>",
                "the password is not UTF-8",
            )
        })
    }

    /// Watches Secret `name` (list and watch with `fieldSelector=metadata.name=NAME`, retried with backoff):
    /// yields `Ok(())` whenever it may have changed (created, modified, deleted, or relisted after the watch
    /// was lost), and `Err` for a failed request (the watch goes on after it). The stream does not end.
    pub fn watch(&self, name: &str) -> impl Stream<Item = Result<(), Error>> + Send + use<> {
        let what = format!("watch of Secret {}/{name}", self.namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        watcher::watcher(self.api(), config)
            .default_backoff()
            .filter_map(move |ev| {
                let out = match ev {
                    Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone) => Some(Ok(())),
                    Ok(Event::Init | Event::InitApply(_)) => None,
                    Err(e) => Some(Err(Error::Unavailable(format!("{what}: {e}")))),
                };
                futures::future::ready(out)
            })
    }
}
