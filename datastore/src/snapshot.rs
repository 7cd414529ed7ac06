//! An in-memory copy of the Calico resources, maintained from a watch stream.
//!
//! [`Snapshot`] holds every Node, BGPPeer, BGPConfiguration, IPPool and BGPFilter; [`Snapshot::apply`] folds one
//! [`WatchEvent`] into it. [`follow`] runs a watch against a [`Datastore`] for the daemon: it reconnects with
//! backoff, keeps the last good state through outages, and publishes a new `Arc<Snapshot>` on a
//! `tokio::sync::watch` channel after each batch of changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use crate::model::{BgpConfiguration, BgpFilter, BgpPeer, IpPool, Kind, Node, Resource};
use crate::store::{Datastore, InvalidRecord, Revision, SyncStatus, WatchEvent};

/// How many recent invalid records a snapshot remembers (for status output).
const MAX_INVALID: usize = 64;
/// How many invalid records of one batch are logged one by one (the rest are counted in one line).
pub const LOGGED_INVALID: usize = 3;
/// [`follow`] publishes a batch once the watch has been quiet this long...
const QUIET: Duration = Duration::from_millis(20);
/// ...or once the batch has been collecting this long under a continuous stream of events.
const MAX_BATCH: Duration = Duration::from_secs(2);

/// Every resource a reflector reads, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// BGPPeers by name.
    pub peers: BTreeMap<String, BgpPeer>,
    /// BGPConfigurations by name (`default`, `node.<name>`).
    pub configs: BTreeMap<String, BgpConfiguration>,
    /// IPPools by name.
    pub pools: BTreeMap<String, IpPool>,
    /// BGPFilters by name.
    pub filters: BTreeMap<String, BgpFilter>,
    /// The revision of the last event applied.
    pub revision: Revision,
    /// Whether the state is known to match the store (false before the first resync and during outages).
    pub synced: bool,
    /// The most recent records that failed to parse (oldest first, at most 64).
    pub invalid: Vec<InvalidRecord>,
    /// Why the state is not known to match the store, when the backend or [`follow`] said why (a missing
    /// or empty datastore file, an outage, a listing that came back empty after having data).
    pub unavailable: Option<String>,
}

impl Snapshot {
    /// A snapshot holding `resources`, marked synced.
    pub fn from_resources(resources: impl IntoIterator<Item = Resource>) -> Snapshot {
        let mut s = Snapshot {
            synced: true,
            ..Snapshot::default()
        };
        for r in resources {
            s.insert(r);
        }
        s
    }

    /// Inserts or replaces a resource; returns true if anything changed.
    pub fn insert(&mut self, r: Resource) -> bool {
        fn put<T: PartialEq>(m: &mut BTreeMap<String, T>, name: String, v: T) -> bool {
            if m.get(&name) == Some(&v) {
                return false;
            }
            m.insert(name, v);
            true
        }
        let name = r.name().to_string();
        match r {
            Resource::Node(v) => put(&mut self.nodes, name, v),
            Resource::BgpPeer(v) => put(&mut self.peers, name, *v),
            Resource::BgpConfiguration(v) => put(&mut self.configs, name, *v),
            Resource::IpPool(v) => put(&mut self.pools, name, *v),
            Resource::BgpFilter(v) => put(&mut self.filters, name, *v),
        }
    }

    /// Removes a resource; returns true if it was present.
    pub fn remove(&mut self, kind: Kind, name: &str) -> bool {
        match kind {
            Kind::Node => self.nodes.remove(name).is_some(),
            Kind::BgpPeer => self.peers.remove(name).is_some(),
            Kind::BgpConfiguration => self.configs.remove(name).is_some(),
            Kind::IpPool => self.pools.remove(name).is_some(),
            Kind::BgpFilter => self.filters.remove(name).is_some(),
        }
    }

    /// Looks a resource up.
    pub fn get(&self, kind: Kind, name: &str) -> Option<Resource> {
        match kind {
            Kind::Node => self.nodes.get(name).cloned().map(Resource::Node),
            Kind::BgpPeer => self.peers.get(name).cloned().map(Resource::from),
            Kind::BgpConfiguration => self.configs.get(name).cloned().map(Resource::from),
            Kind::IpPool => self.pools.get(name).cloned().map(Resource::from),
            Kind::BgpFilter => self.filters.get(name).cloned().map(Resource::from),
        }
    }

    /// Every resource, kinds in [`Kind::ALL`] order, names sorted.
    pub fn resources(&self) -> Vec<Resource> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.nodes.values().cloned().map(Resource::Node));
        out.extend(self.peers.values().cloned().map(Resource::from));
        out.extend(self.configs.values().cloned().map(Resource::from));
        out.extend(self.pools.values().cloned().map(Resource::from));
        out.extend(self.filters.values().cloned().map(Resource::from));
        out
    }

    /// Number of resources held.
    pub fn len(&self) -> usize {
        self.nodes.len() + self.peers.len() + self.configs.len() + self.pools.len() + self.filters.len()
    }

    /// True when no resource is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `BGPConfiguration default`, if present.
    pub fn global_config(&self) -> Option<&BgpConfiguration> {
        self.configs.get(BgpConfiguration::DEFAULT_NAME)
    }

    /// `BGPConfiguration node.<node>`, if present.
    pub fn node_config(&self, node: &str) -> Option<&BgpConfiguration> {
        self.configs.get(&BgpConfiguration::node_config_name(node))
    }

    /// Folds one watch event in. Returns true if the resources (or the sync state) changed.
    pub fn apply(&mut self, event: &WatchEvent) -> bool {
        match event {
            WatchEvent::Resync { resources, revision } => {
                let mut fresh = Snapshot {
                    revision: *revision,
                    synced: self.synced,
                    invalid: std::mem::take(&mut self.invalid),
                    unavailable: self.unavailable.take(),
                    ..Snapshot::default()
                };
                for r in resources {
                    fresh.insert(r.value.clone());
                }
                let changed = fresh.nodes != self.nodes
                    || fresh.peers != self.peers
                    || fresh.configs != self.configs
                    || fresh.pools != self.pools;
                *self = fresh;
                changed
            }
            WatchEvent::Applied(v) => {
                self.revision = self.revision.max(v.revision);
                self.insert(v.value.clone())
            }
            WatchEvent::Deleted { kind, name, revision } => {
                self.revision = self.revision.max(*revision);
                self.remove(*kind, name)
            }
            WatchEvent::Invalid(rec) => {
                if self.invalid.len() >= MAX_INVALID {
                    self.invalid.remove(0);
                }
                self.invalid.push(rec.clone());
                false
            }
            WatchEvent::Status(status) => {
                let synced = matches!(status, SyncStatus::Synced);
                let reason = match status {
                    SyncStatus::Unavailable(msg) => Some(msg.clone()),
                    _ => None,
                };
                let changed = synced != self.synced || reason != self.unavailable;
                self.synced = synced;
                self.unavailable = reason;
                changed
            }
        }
    }
}

/// The last good state [`follow`] keeps while a listing that came back empty is held.
#[derive(Default)]
struct Hold {
    /// The state before an empty listing replaced it.
    last_good: Option<Snapshot>,
}

impl Hold {
    /// Called before a full listing is applied to `snap`: an empty one replacing resources is held.
    fn before_relist(&mut self, snap: &Snapshot, resources: usize) {
        if resources == 0 && !snap.is_empty() && self.last_good.is_none() {
            tracing::warn!(
                held = snap.len(),
                "datastore listing came back empty after holding {} resources: keeping the last good state \
                 (every session) until the datastore has data again; restart the daemon to start from an \
                 empty datastore",
                snap.len()
            );
            self.last_good = Some(snap.clone());
        }
    }

    /// Called after a batch was applied (`before`: resources before it).
    fn after_batch(&mut self, snap: &Snapshot, before: usize) {
        if !snap.is_empty() {
            if self.last_good.take().is_some() {
                tracing::info!(resources = snap.len(), "datastore has data again");
            }
        } else if before > 0 && self.last_good.is_none() {
            tracing::warn!(
                deleted = before,
                "every resource was deleted from the datastore: every session is dropped"
            );
        }
    }

    /// What to publish for the store's state `snap`.
    fn view(&self, snap: &Snapshot) -> Snapshot {
        match &self.last_good {
            Some(good) => Snapshot {
                synced: false,
                unavailable: Some(format!(
                    "the datastore listing came back empty after holding {} resources: the last good state \
                     is kept",
                    good.len()
                )),
                invalid: snap.invalid.clone(),
                ..good.clone()
            },
            None => snap.clone(),
        }
    }
}

/// Follows `store` forever, publishing the maintained snapshot on `tx` after each batch of changes: a batch
/// is every event that arrives until the watch has been quiet for 20 ms (at most 2 s under a continuous
/// stream), so a large edit costs one publish (and one peering recomputation downstream), not one per
/// record. Invalid records of a batch are logged a few at a time with a count of the rest.
///
/// Returns only when every receiver is gone. Outages keep the last good snapshot (marked unsynced); a stream
/// that ends or fails is re-opened from the last revision with exponential backoff (100 ms to 10 s). A full
/// listing that comes back empty when the store held resources (a wiped or wrongly addressed store, lost
/// permissions) is not applied: it is logged, the last good snapshot is published marked unsynced with the
/// reason, and the store's state is applied again as soon as it holds a resource. Deleting every resource
/// one by one is applied, with a WARN line saying so.
pub async fn follow(store: Arc<dyn Datastore>, tx: watch::Sender<Arc<Snapshot>>) {
    let mut snap = (**tx.borrow()).clone();
    let mut hold = Hold::default();
    let mut have_state = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        if tx.is_closed() {
            return;
        }
        let from = have_state.then_some(snap.revision);
        let mut stream = match store.watch(from).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "datastore watch failed; retrying");
                if snap.synced {
                    snap.synced = false;
                    snap.unavailable = Some(e.to_string());
                    tx.send_replace(Arc::new(hold.view(&snap)));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        while let Some(first) = stream.next().await {
            let mut changed = false;
            let before = snap.len();
            let mut next = Some(first);
            let mut ended = false;
            let started = tokio::time::Instant::now();
            let mut events = 0usize;
            let mut invalid = 0usize;
            // Apply the whole burst (everything buffered, and what follows within QUIET) before publishing
            // once: publishing clones the state and the daemon recomputes the peering from it, so one
            // publish per event would make a large change cost quadratic time.
            while let Some(item) = next.take() {
                match item {
                    Ok(ev) => {
                        events += 1;
                        if let WatchEvent::Resync { resources, .. } = &ev {
                            hold.before_relist(&snap, resources.len());
                            have_state = true;
                        }
                        if let WatchEvent::Invalid(rec) = &ev {
                            invalid += 1;
                            if invalid <= LOGGED_INVALID {
                                tracing::warn!(record = %rec, "invalid datastore record skipped");
                            }
                        }
                        if matches!(ev, WatchEvent::Status(SyncStatus::Synced)) {
                            backoff = Duration::from_millis(100);
                        }
                        // A new invalid record changes no resource, but is published too (the daemon
                        // counts them in its metrics).
                        changed |= snap.apply(&ev) | matches!(ev, WatchEvent::Invalid(_));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "datastore watch ended with an error");
                        ended = true;
                        break;
                    }
                }
                match stream.next().now_or_never() {
                    Some(Some(item)) => next = Some(item),
                    Some(None) => ended = true,
                    None if started.elapsed() < MAX_BATCH => {
                        match tokio::time::timeout(QUIET, stream.next()).await {
                            Ok(Some(item)) => next = Some(item),
                            Ok(None) => ended = true,
                            Err(_) => {}
                        }
                    }
                    None => {}
                }
            }
            if invalid > LOGGED_INVALID {
                tracing::warn!(
                    invalid,
                    "invalid datastore records skipped: {} more not logged",
                    invalid - LOGGED_INVALID
                );
            }
            tracing::debug!(events, changed, "datastore batch applied");
            if changed {
                hold.after_batch(&snap, before);
                tx.send_replace(Arc::new(hold.view(&snap)));
            }
            if ended || tx.is_closed() {
                break;
            }
        }
        if snap.synced {
            snap.synced = false;
            snap.unavailable = Some("the datastore watch ended; reconnecting".into());
            tx.send_replace(Arc::new(hold.view(&snap)));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Starts [`follow`] on the current tokio runtime and returns the receiving end.
pub fn spawn_follower(store: Arc<dyn Datastore>) -> watch::Receiver<Arc<Snapshot>> {
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    tokio::spawn(follow(store, tx));
    rx
}
