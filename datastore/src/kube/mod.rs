//! Kubernetes API backend (core/v1 Nodes with `projectcalico.org/*` annotations, Calico CRDs).
//!
//! Where things live (`calico-datastore.md` §2.1, §2.3):
//! - Calico `Node` = core/v1 `Node` ([`convert`]): BGP spec from `projectcalico.org/*` annotations, labels from
//!   `projectcalico.org/labels` merged under the node's own labels. A Calico node exists iff the Kubernetes node
//!   does: [`KubeDatastore::create`] and [`KubeDatastore::delete`] of a Node return [`Error::Unsupported`], and
//!   an update only changes those annotations.
//! - BGPPeer, BGPConfiguration, IPPool: cluster-scoped custom resources in `crd.projectcalico.org/v1` or
//!   `projectcalico.org/v3` ([`group`]).
//! - BGP passwords: Secrets in the calico namespace (`NAMESPACE`, default `kube-system`).
//!
//! Watches use kube's runtime watcher (module `watch`); writes are compare-and-swap on `resourceVersion` (HTTP PUT
//! with `metadata.resourceVersion`, DELETE with `preconditions.resourceVersion`; `409 Conflict` →
//! [`Error::Conflict`]). Every API call is documented against [`REQUIRED_PERMISSIONS`] / [`WRITE_PERMISSIONS`].

pub mod convert;
pub mod group;
pub mod rbac;
mod secret;
mod watch;

use std::path::PathBuf;

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;

pub use group::CalicoApiGroup;
pub use rbac::{Permission, REQUIRED_PERMISSIONS, Scope, WRITE_PERMISSIONS};
pub use secret::KubeSecrets;

use crate::error::Error;
use crate::model::{Kind, Resource};
use crate::store::{Datastore, Listing, Revision, Versioned, WatchStream};

/// Objects per page of a list request (client-go's default).
const LIST_PAGE_SIZE: u32 = 500;

/// The namespace of the calico-node Secrets when `NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "kube-system";

/// How to reach the Kubernetes API, from the same environment variables as calico-node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KubeConfig {
    /// `KUBECONFIG` / `CALICO_KUBECONFIG` (a path list like `KUBECONFIG`); `None` → in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The namespace of BGP password Secrets (`NAMESPACE`, default `kube-system`).
    pub namespace: String,
    /// `CALICO_API_GROUP`: forces the API group; `None` → discovery decides.
    pub api_group: Option<CalicoApiGroup>,
    /// Server-side timeout of each watch request in seconds (`None`: kube's default, 290 s).
    pub watch_timeout_secs: Option<u32>,
}

impl KubeConfig {
    /// Reads `KUBECONFIG` (or `CALICO_KUBECONFIG`), `NAMESPACE`, `CALICO_API_GROUP` from the environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`KubeConfig::from_env`] with a custom variable lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        KubeConfig {
            kubeconfig: nonempty("KUBECONFIG")
                .or_else(|| nonempty("CALICO_KUBECONFIG"))
                .map(PathBuf::from),
            namespace: nonempty("NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            api_group: CalicoApiGroup::from_env_value(nonempty("CALICO_API_GROUP").as_deref()),
            watch_timeout_secs: None,
        }
    }

    /// A configuration reading the given kubeconfig file.
    pub fn with_kubeconfig(path: impl Into<PathBuf>) -> Self {
        KubeConfig {
            kubeconfig: Some(path.into()),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            ..KubeConfig::default()
        }
    }
}

/// The Kubernetes datastore.
#[derive(Clone)]
pub struct KubeDatastore {
    client: kube::Client,
    namespace: String,
    group: CalicoApiGroup,
    watch_config: watcher::Config,
}

impl std::fmt::Debug for KubeDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeDatastore")
            .field("namespace", &self.namespace)
            .field("group", &self.group)
            .finish()
    }
}

fn backend(what: impl std::fmt::Display) -> Error {
    Error::Backend(what.to_string())
}

/// A client from the kubeconfig list of `config` (merged as `kubectl` merges `KUBECONFIG`), or the in-cluster
/// service account when it names none.
async fn client(config: &KubeConfig) -> Result<kube::Client, Error> {
    let kcfg = match &config.kubeconfig {
        Some(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            for p in std::env::split_paths(paths.as_os_str()).filter(|p| !p.as_os_str().is_empty()) {
                let k = Kubeconfig::read_from(&p)
                    .map_err(|e| backend(format!("kubeconfig {}: {e}", p.display())))?;
                merged = Some(match merged {
                    None => k,
                    Some(m) => m.merge(k).map_err(|e| backend(format!("kubeconfig: {e}")))?,
                });
            }
            let k = merged.ok_or_else(|| backend("KUBECONFIG names no file"))?;
            kube::Config::from_custom_kubeconfig(k, &KubeConfigOptions::default())
                .await
                .map_err(|e| backend(format!("kubeconfig: {e}")))?
        }
        None => kube::Config::incluster().map_err(|e| backend(format!("in-cluster config: {e}")))?,
    };
    kube::Client::try_from(kcfg).map_err(|e| backend(format!("kubernetes client: {e}")))
}

impl KubeDatastore {
    /// Connects: loads the kubeconfig (or the in-cluster service account), then picks the Calico API group
    /// (`CALICO_API_GROUP`, else discovery of `/apis`).
    pub async fn connect(config: &KubeConfig) -> Result<KubeDatastore, Error> {
        let client = client(config).await?;
        let group = match config.api_group {
            Some(g) => g,
            None => Self::discover_group(&client).await?,
        };
        let mut ds = KubeDatastore::from_client(client, config.namespace.clone(), group);
        if let Some(t) = config.watch_timeout_secs {
            ds.watch_config = ds.watch_config.timeout(t);
        }
        Ok(ds)
    }

    /// A datastore on an existing client with a known API group.
    pub fn from_client(
        client: kube::Client,
        namespace: impl Into<String>,
        group: CalicoApiGroup,
    ) -> KubeDatastore {
        KubeDatastore {
            client,
            namespace: namespace.into(),
            group,
            watch_config: watcher::Config::default(),
        }
    }

    /// `GET /apis` (non-resource URL, allowed by `system:discovery`) and the `UsingV3CRDs` rule.
    pub async fn discover_group(client: &kube::Client) -> Result<CalicoApiGroup, Error> {
        let groups = client
            .list_api_groups()
            .await
            .map_err(|e| map_transport(&e, "discovery"))?;
        let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
        Ok(CalicoApiGroup::from_discovery(&names))
    }

    /// The Calico API group in use.
    pub fn api_group(&self) -> CalicoApiGroup {
        self.group
    }

    /// The Secret namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The BGP password Secrets of this datastore's namespace, through the same client.
    pub fn secrets(&self) -> KubeSecrets {
        KubeSecrets::from_client(self.client.clone(), self.namespace.clone())
    }

    fn api_resource(&self, kind: Kind) -> ApiResource {
        match kind {
            Kind::Node => ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "Node".into(),
                plural: "nodes".into(),
            },
            _ => ApiResource {
                group: self.group.group().into(),
                version: self.group.version().into(),
                api_version: self.group.api_version().into(),
                kind: kind.as_str().into(),
                plural: kind.plural().into(),
            },
        }
    }

    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &self.api_resource(kind))
    }

    fn convert(kind: Kind, obj: &DynamicObject) -> Result<Versioned<Resource>, Error> {
        watch::convert_object(kind, obj).map_err(|bad| bad.error)
    }

    /// The current revision of an object, if it exists (to fill [`Error::Conflict::actual`]).
    async fn current_revision(&self, kind: Kind, name: &str) -> Option<Revision> {
        let obj = self.api(kind).get_opt(name).await.ok()??;
        Some(convert::revision_of(obj.metadata.resource_version.as_deref()))
    }

    async fn conflict(&self, kind: Kind, name: &str, expected: Revision) -> Error {
        Error::Conflict {
            kind,
            name: name.to_owned(),
            expected,
            actual: self.current_revision(kind, name).await,
        }
    }
}

/// Maps a kube error that is not about a specific object.
fn map_transport(e: &kube::Error, what: &str) -> Error {
    match e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => {
            Error::Backend(format!("{what}: not allowed ({}): {}", s.code, s.message))
        }
        kube::Error::Api(s) if s.code >= 500 || s.code == 429 => {
            Error::Unavailable(format!("{what}: {}", s.message))
        }
        kube::Error::Api(s) => Error::Backend(format!("{what}: {} ({})", s.message, s.code)),
        kube::Error::HyperError(_) | kube::Error::Service(_) => Error::Unavailable(format!("{what}: {e}")),
        other => Error::Backend(format!("{what}: {other}")),
    }
}

/// Maps a kube error about `kind`/`name`.
fn map_object(e: &kube::Error, kind: Kind, name: &str) -> Error {
    match e {
        kube::Error::Api(s) if s.code == 404 => Error::NotFound {
            kind,
            name: name.to_owned(),
        },
        kube::Error::Api(s) if s.code == 409 && s.is_already_exists() => Error::AlreadyExists {
            kind,
            name: name.to_owned(),
        },
        kube::Error::Api(s) if s.code == 422 => {
            Error::invalid(format!("{kind}/{name}"), "", "", s.message.clone())
        }
        other => map_transport(other, &format!("{kind}/{name}")),
    }
}

#[async_trait]
impl Datastore for KubeDatastore {
    /// `list` on the kind's resource ([`REQUIRED_PERMISSIONS`]).
    async fn list(&self, kind: Kind) -> Result<Listing, Error> {
        // Paged like kube's watcher and client-go (500 per page). A paged list is one consistent snapshot at the
        // first page's resourceVersion; if the continue token expires (410) the list starts over.
        let api = self.api(kind);
        let mut attempts = 0;
        let items = 'restart: loop {
            attempts += 1;
            let mut items = Vec::new();
            let mut revision = None;
            let mut lp = ListParams::default().limit(LIST_PAGE_SIZE);
            loop {
                let page = match api.list(&lp).await {
                    Ok(p) => p,
                    Err(kube::Error::Api(s)) if s.code == 410 && revision.is_some() && attempts < 3 => {
                        continue 'restart;
                    }
                    Err(e) => return Err(map_transport(&e, kind.plural())),
                };
                revision
                    .get_or_insert_with(|| convert::revision_of(page.metadata.resource_version.as_deref()));
                items.extend(page.items);
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => lp.continue_token = Some(c),
                    None => break 'restart (items, revision.unwrap_or_default()),
                }
            }
        };
        let (items, revision) = items;
        let mut listing = Listing {
            revision,
            ..Listing::default()
        };
        for obj in &items {
            match watch::convert_object(kind, obj) {
                Ok(v) => listing.resources.push(v),
                Err(bad) => listing.invalid.push(*bad),
            }
        }
        listing
            .resources
            .sort_by(|a, b| a.value.name().cmp(b.value.name()));
        Ok(listing)
    }

    /// `list` + `watch` on every kind's resource ([`REQUIRED_PERMISSIONS`]), through kube's runtime watcher.
    ///
    /// kube's watcher always starts with a list, so `watch(Some(rev))` also starts with a `Resync` (the trait
    /// allows it: a consumer treats every `Resync` as "replace everything").
    async fn watch(&self, from: Option<Revision>) -> Result<WatchStream, Error> {
        let _ = from;
        let apis = Kind::ALL.iter().map(|k| (*k, self.api(*k))).collect();
        Ok(watch::watch_all(apis, &self.watch_config))
    }

    /// `get` on the kind's resource ([`REQUIRED_PERMISSIONS`]).
    async fn get(&self, kind: Kind, name: &str) -> Result<Versioned<Resource>, Error> {
        let obj = self
            .api(kind)
            .get(name)
            .await
            .map_err(|e| map_object(&e, kind, name))?;
        Self::convert(kind, &obj)
    }

    /// `create` on the Calico resource ([`WRITE_PERMISSIONS`]). Nodes: [`Error::Unsupported`].
    async fn create(&self, resource: &Resource) -> Result<Revision, Error> {
        let kind = resource.kind();
        if kind == Kind::Node {
            return Err(Error::Unsupported(
                "creating a Calico Node in the Kubernetes datastore (a Calico node exists iff the Kubernetes node does)"
                    .into(),
            ));
        }
        let obj = convert::crd_from_resource(resource, self.group, None);
        let created = self
            .api(kind)
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| map_object(&e, kind, resource.name()))?;
        Ok(convert::revision_of(created.metadata.resource_version.as_deref()))
    }

    /// `replace` (PUT) with `metadata.resourceVersion = expected` ([`WRITE_PERMISSIONS`]: `update`). For a
    /// Node the current Kubernetes node is read (`get`) and only the Calico annotations change.
    async fn update(&self, resource: &Resource, expected: Revision) -> Result<Revision, Error> {
        let kind = resource.kind();
        let name = resource.name();
        let api = self.api(kind);
        let obj = match resource {
            Resource::Node(node) => {
                let mut cur = api.get(name).await.map_err(|e| map_object(&e, kind, name))?;
                let actual = convert::revision_of(cur.metadata.resource_version.as_deref());
                if actual != expected {
                    return Err(Error::Conflict {
                        kind,
                        name: name.to_owned(),
                        expected,
                        actual: Some(actual),
                    });
                }
                convert::node_into_k8s(node, &mut cur.metadata)?;
                cur
            }
            _ => convert::crd_from_resource(resource, self.group, Some(expected.to_string())),
        };
        match api.replace(name, &PostParams::default(), &obj).await {
            Ok(done) => Ok(convert::revision_of(done.metadata.resource_version.as_deref())),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(self.conflict(kind, name, expected).await),
            Err(e) => Err(map_object(&e, kind, name)),
        }
    }

    /// `delete` with `preconditions.resourceVersion` ([`WRITE_PERMISSIONS`]). Nodes: [`Error::Unsupported`].
    async fn delete(&self, kind: Kind, name: &str, expected: Option<Revision>) -> Result<(), Error> {
        if kind == Kind::Node {
            return Err(Error::Unsupported(
                "deleting a Calico Node in the Kubernetes datastore (delete the Kubernetes node instead)"
                    .into(),
            ));
        }
        let mut dp = DeleteParams::default();
        if let Some(rev) = expected {
            dp.preconditions = Some(Preconditions {
                resource_version: Some(rev.to_string()),
                uid: None,
            });
        }
        match self.api(kind).delete(name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let expected = expected.unwrap_or_default();
                Err(self.conflict(kind, name, expected).await)
            }
            Err(e) => Err(map_object(&e, kind, name)),
        }
    }

    /// `get` on a Secret in the calico namespace ([`REQUIRED_PERMISSIONS`]); the value of `key`, UTF-8.
    async fn secret(&self, name: &str, key: &str) -> Result<String, Error> {
        self.secrets().get(name, key).await
    }
}
