//! The backend trait: list and watch of Calico resources with explicit resync events, and compare-and-swap
//! writes.
//!
//! # Watch contract
//! [`Datastore::watch`] returns one stream for all kinds in [`Kind::ALL`]:
//! - `watch(None)` starts with a [`WatchEvent::Resync`] holding the full current state (every kind), then a
//!   [`WatchEvent::Status`]`(`[`SyncStatus::Synced`]`)`, then incremental events.
//! - `watch(Some(rev))` delivers changes strictly after `rev` (the revision of a [`Listing`] or of a previous
//!   event). If the backend can no longer replay from `rev` (etcd compaction, Kubernetes 410 Gone), it relists
//!   and emits a `Resync` instead: a consumer must treat every `Resync` as "replace everything".
//! - While the backend cannot reach its store it emits `Status(Unavailable)`, keeps retrying, and after
//!   reconnecting emits whatever brings the consumer up to date (events or a `Resync`) and `Status(Synced)`.
//! - A record that does not parse is reported as [`WatchEvent::Invalid`] and otherwise skipped: the consumer
//!   keeps the last good version of that object (if it had one). In a `Resync`, invalid records are simply
//!   absent, and reported as separate `Invalid` events right after it.
//! - An `Err` item ends the stream (unrecoverable); the consumer may call `watch` again.

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

use crate::error::Error;
use crate::model::{Kind, Resource};

/// A store revision: etcd `mod_revision`, the Kubernetes `resourceVersion` (numeric in practice), or the file
/// backend's write counter. Revisions from one backend increase with every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A value with the revision at which it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// The revision of its last write (the value to pass to [`Datastore::update`]).
    pub revision: Revision,
}

impl<T> Versioned<T> {
    /// Pairs a value with its revision.
    pub fn new(value: T, revision: Revision) -> Self {
        Versioned { value, revision }
    }
}

/// The result of [`Datastore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The valid resources, sorted by name.
    pub resources: Vec<Versioned<Resource>>,
    /// Records that did not parse (skipped).
    pub invalid: Vec<InvalidRecord>,
    /// The store revision the listing reflects; watch from here to follow it.
    pub revision: Revision,
}

/// A record the backend could not turn into a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRecord {
    /// The kind, when known from the record's location (key, CRD).
    pub kind: Option<Kind>,
    /// The object name, when known.
    pub name: Option<String>,
    /// Where it came from: an etcd key, a Kubernetes object path, `file.yaml#3` (document index).
    pub source: String,
    /// Why it was rejected (usually [`Error::Invalid`], naming field and value).
    pub error: Error,
}

impl fmt::Display for InvalidRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.error)
    }
}

/// Whether a watch is in step with its store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncStatus {
    /// The consumer holds the store's current state.
    Synced,
    /// The store cannot be reached; the last good state holds. The text says why.
    Unavailable(String),
}

/// One event of a [`WatchStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // events are transient; boxing would only add allocations
pub enum WatchEvent {
    /// The full state of every kind (initial list or relist): replace everything held.
    Resync {
        /// Every valid resource.
        resources: Vec<Versioned<Resource>>,
        /// The revision of the state.
        revision: Revision,
    },
    /// A resource was created or updated.
    Applied(Versioned<Resource>),
    /// A resource was deleted.
    Deleted {
        /// Its kind.
        kind: Kind,
        /// Its name.
        name: String,
        /// The revision of the deletion.
        revision: Revision,
    },
    /// A record did not parse; it is skipped (the previous good version stays in force).
    Invalid(InvalidRecord),
    /// The connection state changed.
    Status(SyncStatus),
}

/// The stream returned by [`Datastore::watch`].
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Error>> + Send>>;

/// A Calico datastore backend: file, etcd v3 or Kubernetes.
///
/// Every backend must pass [`crate::conformance`].
#[async_trait]
pub trait Datastore: Send + Sync {
    /// Lists every resource of `kind` with the store revision.
    async fn list(&self, kind: Kind) -> Result<Listing, Error>;

    /// Watches every kind; see the module docs for the contract.
    async fn watch(&self, from: Option<Revision>) -> Result<WatchStream, Error>;

    /// Reads one resource.
    async fn get(&self, kind: Kind, name: &str) -> Result<Versioned<Resource>, Error>;

    /// Creates a resource; [`Error::AlreadyExists`] if the name is taken. Returns the new revision.
    async fn create(&self, resource: &Resource) -> Result<Revision, Error>;

    /// Replaces a resource if its revision is still `expected` ([`Error::Conflict`] otherwise,
    /// [`Error::NotFound`] if it is gone). Returns the new revision.
    async fn update(&self, resource: &Resource, expected: Revision) -> Result<Revision, Error>;

    /// Deletes a resource, only if its revision is `expected` when given ([`Error::Conflict`] otherwise).
    async fn delete(&self, kind: Kind, name: &str, expected: Option<Revision>) -> Result<(), Error>;

    /// Reads a key of a Kubernetes Secret in the calico namespace (BGP passwords). Backends without secrets
    /// return [`Error::Unsupported`].
    async fn secret(&self, name: &str, key: &str) -> Result<String, Error> {
        let _ = (name, key);
        Err(Error::Unsupported("this datastore has no secrets".to_string()))
    }

    /// Creates the resource or replaces it regardless of revision (`calicoctl apply`). Returns the new revision.
    async fn apply(&self, resource: &Resource) -> Result<Revision, Error> {
        let mut last = Error::Backend("apply: no attempt made".to_string());
        for _ in 0..16 {
            let attempt = match self.get(resource.kind(), resource.name()).await {
                Ok(cur) => self.update(resource, cur.revision).await,
                Err(Error::NotFound { .. }) => self.create(resource).await,
                Err(e) => return Err(e),
            };
            match attempt {
                Err(e @ (Error::Conflict { .. } | Error::NotFound { .. } | Error::AlreadyExists { .. })) => {
                    last = e
                }
                other => return other,
            }
        }
        Err(last)
    }
}
