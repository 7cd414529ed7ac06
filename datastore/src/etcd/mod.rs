//! etcd v3 backend (Calico `/calico/resources/v3/projectcalico.org/...` keys).
//!
//! Reads exactly what calicoctl and libcalico-go store: one JSON resource per key
//! `<prefix>/<plural>/<name>`; a resource's version is etcd's `mod_revision` (any `resourceVersion` inside
//! the JSON is ignored).
//!
//! - [`EtcdBackend::watch_raw`]: a paged list of every kind at one revision, then one watch stream with a
//!   watcher per kind from that revision + 1 (no gap, no duplicate). A watcher canceled by a compaction
//!   triggers a relist, reported as a new snapshot. A lost connection is retried with exponential backoff,
//!   endpoint after endpoint, and the watch resumes where it stopped; the outage is reported once
//!   (`Unavailable`) and its end too (`Available`).
//! - Writes are compare-and-swap transactions on `mod_revision`: create requires `create_revision == 0`,
//!   update and delete require the expected `mod_revision` (delete may skip the check).
//! - TLS from PEM files (CA, client certificate and key) and optional username/password.
//!
//! Modules: [`config`] (settings, environment), `error`, `keys` (key layout), `kv` (list, get, CAS),
//! `pool` (endpoint rotation, backoff), `watch` (the list-then-watch task), `store` (the [`Datastore`]
//! implementation: JSON parsing, invalid records, error mapping).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use datastore::etcd::{EtcdBackend, EtcdConfig};
//! use datastore::{Datastore, SyncStatus, WatchEvent};
//! use futures::StreamExt;
//!
//! // ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD
//! // (each also with a CALICO_ prefix), or build the config by hand:
//! let config = EtcdConfig::from_env()
//!     .unwrap_or_else(|| EtcdConfig::new(["http://127.0.0.1:2379"]));
//! let store = EtcdBackend::new(config)?; // no I/O yet: etcd may still be down
//! let mut watch = store.watch(None).await?;
//! while let Some(event) = watch.next().await {
//!     match event? {
//!         WatchEvent::Resync { resources, revision } => println!("{} resources at {revision}", resources.len()),
//!         WatchEvent::Applied(v) => println!("{} at {}", v.value.id(), v.revision),
//!         WatchEvent::Deleted { kind, name, .. } => println!("{kind}/{name} deleted"),
//!         WatchEvent::Invalid(bad) => eprintln!("skipped {bad}"),
//!         WatchEvent::Status(SyncStatus::Unavailable(why)) => eprintln!("etcd unreachable: {why}"),
//!         WatchEvent::Status(_) => println!("in sync"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod config;
mod error;
mod keys;
mod kv;
mod pool;
mod store;
mod watch;

use std::sync::Arc;

pub use config::{CALICO_PREFIX, EtcdConfig, EtcdTlsFiles};
pub use error::EtcdError;
pub use kv::{InvalidKey, RawRecord, RawSnapshot};
pub use watch::{RawEvent, RawWatch};

use crate::model::Kind;
#[cfg(doc)]
use crate::store::Datastore;
use config::Prepared;
use keys::EtcdKeys;
use kv::{Expect, Write};
use pool::{Pool, SharedPool};

/// A connection to an etcd v3 cluster holding Calico resources.
#[derive(Clone)]
pub struct EtcdBackend {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Arc<EtcdConfig>,
    prepared: Prepared,
    pool: SharedPool,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.inner.cfg.endpoints)
            .field("prefix", &self.inner.cfg.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Checks the configuration and reads the TLS files; no network I/O (a watch started while etcd is
    /// down reports `Unavailable` and keeps retrying).
    pub fn new(config: EtcdConfig) -> Result<Self, EtcdError> {
        let prepared = config.prepare()?;
        let pool = SharedPool::new(Pool::new(&config, prepared.clone()));
        Ok(EtcdBackend {
            inner: Arc::new(Inner {
                cfg: Arc::new(config),
                prepared,
                pool,
            }),
        })
    }

    /// [`EtcdBackend::new`], then one request to prove an endpoint answers: a wrong CA or a refused
    /// client certificate is reported here as [`EtcdError::Tls`].
    pub async fn connect(config: EtcdConfig) -> Result<Self, EtcdError> {
        let backend = Self::new(config)?;
        backend.probe().await?;
        Ok(backend)
    }

    /// The settings in use.
    pub fn config(&self) -> &EtcdConfig {
        &self.inner.cfg
    }

    /// Asks an endpoint for the current store revision.
    pub async fn probe(&self) -> Result<i64, EtcdError> {
        let timeout = self.inner.cfg.request_timeout;
        let key = self.inner.cfg.prefix.clone();
        self.inner
            .pool
            .run(|mut client, endpoint| {
                let key = key.clone();
                async move {
                    let opts = etcd_client::GetOptions::new().with_count_only();
                    let resp = pool::call(&endpoint, timeout, client.get(key, Some(opts))).await?;
                    Ok(resp.header().map_or(0, |h| h.revision()))
                }
            })
            .await
    }

    /// Every resource of every kind at one revision.
    pub async fn list_raw(&self) -> Result<RawSnapshot, EtcdError> {
        self.list_kinds(&Kind::ALL).await
    }

    /// Every resource of `kinds` at one revision.
    pub async fn list_kinds(&self, kinds: &[Kind]) -> Result<RawSnapshot, EtcdError> {
        let cfg = self.inner.cfg.clone();
        self.inner
            .pool
            .run(|mut client, endpoint| {
                let cfg = cfg.clone();
                async move {
                    kv::list(
                        &mut client,
                        &endpoint,
                        kinds,
                        &cfg.prefix,
                        cfg.page_size,
                        cfg.request_timeout,
                    )
                    .await
                }
            })
            .await
    }

    /// One resource, if present.
    pub async fn get_raw(&self, kind: Kind, name: &str) -> Result<Option<RawRecord>, EtcdError> {
        let cfg = self.inner.cfg.clone();
        let key = kind.key(&cfg.prefix, name)?;
        self.inner
            .pool
            .run(|mut client, endpoint| {
                let (cfg, key) = (cfg.clone(), key.clone());
                async move {
                    kv::get(
                        &mut client,
                        &endpoint,
                        &cfg.prefix,
                        kind,
                        &key,
                        cfg.request_timeout,
                    )
                    .await
                }
            })
            .await
    }

    /// Creates a resource that must not exist yet; returns its mod_revision.
    pub async fn create_raw(&self, kind: Kind, name: &str, value: Vec<u8>) -> Result<i64, EtcdError> {
        self.cas(kind, name, Expect::Absent, Write::Put(value)).await
    }

    /// Replaces a resource whose mod_revision is still `expected`; returns the new mod_revision.
    pub async fn update_raw(
        &self,
        kind: Kind,
        name: &str,
        value: Vec<u8>,
        expected: i64,
    ) -> Result<i64, EtcdError> {
        self.cas(kind, name, Expect::Present(Some(expected)), Write::Put(value))
            .await
    }

    /// Deletes a resource (at mod_revision `expected` when given); returns the revision of the deletion.
    pub async fn delete_raw(&self, kind: Kind, name: &str, expected: Option<i64>) -> Result<i64, EtcdError> {
        self.cas(kind, name, Expect::Present(expected), Write::Delete)
            .await
    }

    async fn cas(&self, kind: Kind, name: &str, expect: Expect, write: Write) -> Result<i64, EtcdError> {
        let timeout = self.inner.cfg.request_timeout;
        let key = kind.key(&self.inner.cfg.prefix, name)?;
        self.inner
            .pool
            .run(|mut client, endpoint| {
                let (key, write) = (key.clone(), write.clone());
                async move { kv::cas(&mut client, &endpoint, &key, expect, write, timeout).await }
            })
            .await
    }

    /// Starts listing and watching every kind (a task on the current tokio runtime, with its own
    /// connections); see [`RawEvent`] for what it reports.
    pub fn watch_raw(&self) -> RawWatch {
        self.watch_raw_from(None)
    }

    /// [`EtcdBackend::watch_raw`], or with `Some(rev)`, the changes after revision `rev` without a first list
    /// (a relist if `rev` is compacted).
    pub fn watch_raw_from(&self, from: Option<i64>) -> RawWatch {
        let pool = Pool::new(&self.inner.cfg, self.inner.prepared.clone());
        watch::spawn(self.inner.cfg.clone(), pool, from)
    }
}
