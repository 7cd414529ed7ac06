//! One watch stream over the four Calico kinds, built from kube's runtime [`watcher`].
//!
//! ```text
//!  watcher(nodes)              ─┐
//!  watcher(bgppeers)           ─┤  KindMsg (Init / InitApply / InitDone / Apply / Delete / Failed)
//!  watcher(bgpconfigurations)  ─┤ ─────────────► Aggregator ──► WatchEvent (Resync / Applied / Deleted /
//!  watcher(ippools)            ─┘   (mpsc)                       Invalid / Status)
//! ```
//!
//! - Each kind runs kube's `watcher` in its own task. The watcher lists (paged), then watches from the list's
//!   `resourceVersion` with bookmarks, resumes from the last seen or bookmarked version after a dropped
//!   connection, and relists by itself after `410 Gone` (`Init`, `InitApply`…, `InitDone`).
//! - Any other watcher error (connection refused, 5xx, 403) is reported as `Failed`; the task then starts a new
//!   watcher (a full relist) after a capped exponential backoff, so the consumer is brought up to date by a
//!   `Resync` after an outage.
//! - The aggregator holds the current state of every kind. The first `Resync` is sent once every kind has
//!   listed; afterwards every completed relist of a kind sends a `Resync` of all kinds (the other kinds from the
//!   held state, which is current). `Status(Unavailable)` is sent on the first failure, `Status(Synced)` after
//!   the first `Resync` and again once every failed kind has relisted.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::convert;
use crate::Resource;
use crate::error::Error;
use crate::model::Kind;
use crate::store::{InvalidRecord, Revision, SyncStatus, Versioned, WatchEvent, WatchStream};

/// First delay before restarting a failed watcher.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest delay between restarts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A message from one kind's watcher task.
#[derive(Debug)]
pub(crate) enum KindMsg {
    /// A watcher event.
    Event(Kind, Box<Event<DynamicObject>>),
    /// The watcher failed; it is being restarted.
    Failed(Kind, String),
}

fn idx(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Converts one object of `kind` (a core Node or a Calico custom resource).
pub(crate) fn convert_object(
    kind: Kind,
    obj: &DynamicObject,
) -> Result<Versioned<Resource>, Box<InvalidRecord>> {
    let res = match kind {
        Kind::Node => convert::node_from_k8s(&obj.metadata),
        _ => convert::resource_from_crd(kind, obj),
    };
    res.map_err(|error| {
        Box::new(InvalidRecord {
            kind: Some(kind),
            name: obj.metadata.name.clone(),
            source: format!(
                "{}/{}",
                kind.plural(),
                obj.metadata.name.as_deref().unwrap_or("?")
            ),
            error,
        })
    })
}

/// Runs kube's watcher for one kind, restarting it (with backoff) after failures, until the receiver is gone.
pub(crate) async fn run_kind(
    api: Api<DynamicObject>,
    kind: Kind,
    config: watcher::Config,
    tx: mpsc::Sender<KindMsg>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut stream = watcher::watcher(api.clone(), config.clone()).boxed();
        let failure = loop {
            match stream.next().await {
                Some(Ok(ev)) => {
                    if matches!(ev, Event::InitDone) {
                        backoff = BACKOFF_MIN;
                    }
                    if tx.send(KindMsg::Event(kind, Box::new(ev))).await.is_err() {
                        return;
                    }
                }
                // 410 Gone: the watcher relists by itself on its next poll (Init, InitApply…, InitDone).
                Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                    tracing::debug!(kind = %kind, "watch expired (410 Gone); relisting");
                }
                Some(Err(e)) => break e.to_string(),
                None => break "watch stream ended".to_owned(),
            }
        };
        tracing::warn!(kind = %kind, error = %failure, "kubernetes watch failed; restarting");
        if tx.send(KindMsg::Failed(kind, failure)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Folds the per-kind watcher events into [`WatchEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    state: [BTreeMap<String, Versioned<Resource>>; 4],
    /// Objects received since `Init` for kinds that are relisting.
    pending: [Option<BTreeMap<String, Versioned<Resource>>>; 4],
    listed: [bool; 4],
    failed: [bool; 4],
    /// Invalid records seen during relists, reported right after the next `Resync`.
    invalid: Vec<InvalidRecord>,
    resynced: bool,
    unavailable: bool,
    revision: Revision,
}

impl Aggregator {
    fn bump(&mut self, r: Revision) {
        self.revision = self.revision.max(r);
    }

    /// Handles one message, returning the events to emit.
    pub(crate) fn handle(&mut self, msg: KindMsg) -> Vec<WatchEvent> {
        let mut out = Vec::new();
        match msg {
            KindMsg::Failed(kind, why) => {
                let i = idx(kind);
                self.failed[i] = true;
                self.pending[i] = None;
                if !self.unavailable {
                    self.unavailable = true;
                    out.push(WatchEvent::Status(SyncStatus::Unavailable(format!(
                        "{}: {why}",
                        kind.plural()
                    ))));
                }
            }
            KindMsg::Event(kind, ev) => {
                let i = idx(kind);
                match *ev {
                    Event::Init => self.pending[i] = Some(BTreeMap::new()),
                    Event::InitApply(obj) => match convert_object(kind, &obj) {
                        Ok(v) => {
                            self.bump(v.revision);
                            let name = v.value.name().to_owned();
                            self.pending[i].get_or_insert_with(BTreeMap::new).insert(name, v);
                        }
                        Err(bad) => self.invalid.push(*bad),
                    },
                    Event::InitDone => {
                        self.state[i] = self.pending[i].take().unwrap_or_default();
                        self.listed[i] = true;
                        self.failed[i] = false;
                        let complete = self.listed.iter().all(|l| *l)
                            && self.pending.iter().all(Option::is_none)
                            && self.failed.iter().all(|f| !f);
                        if complete {
                            out.push(WatchEvent::Resync {
                                resources: self.state.iter().flat_map(|m| m.values().cloned()).collect(),
                                revision: self.revision,
                            });
                            out.extend(self.invalid.drain(..).map(WatchEvent::Invalid));
                            if !self.resynced || self.unavailable {
                                out.push(WatchEvent::Status(SyncStatus::Synced));
                            }
                            self.resynced = true;
                            self.unavailable = false;
                        }
                    }
                    Event::Apply(obj) => match convert_object(kind, &obj) {
                        Ok(v) => {
                            self.bump(v.revision);
                            self.state[i].insert(v.value.name().to_owned(), v.clone());
                            if self.resynced {
                                out.push(WatchEvent::Applied(v));
                            }
                        }
                        Err(bad) if self.resynced => out.push(WatchEvent::Invalid(*bad)),
                        Err(bad) => self.invalid.push(*bad),
                    },
                    Event::Delete(obj) => {
                        let revision = convert::revision_of(obj.metadata.resource_version.as_deref());
                        self.bump(revision);
                        let name = obj.metadata.name.clone().unwrap_or_default();
                        // A delete of a record we never held (it was invalid) is still reported: the consumer
                        // may hold an older good version.
                        self.state[i].remove(&name);
                        if self.resynced {
                            out.push(WatchEvent::Deleted { kind, name, revision });
                        }
                    }
                }
            }
        }
        out
    }
}

/// Aborts the watcher tasks when the stream is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Starts one watcher task per `(kind, api)` and returns the merged stream.
pub(crate) fn watch_all(apis: Vec<(Kind, Api<DynamicObject>)>, config: &watcher::Config) -> WatchStream {
    let (tx, rx) = mpsc::channel::<KindMsg>(256);
    let tasks = Tasks(
        apis.into_iter()
            .map(|(kind, api)| tokio::spawn(run_kind(api, kind, config.clone(), tx.clone())))
            .collect(),
    );
    drop(tx);
    let state = (rx, Aggregator::default(), VecDeque::<WatchEvent>::new(), tasks);
    Box::pin(futures::stream::unfold(
        state,
        |(mut rx, mut agg, mut queue, tasks)| async move {
            loop {
                if let Some(ev) = queue.pop_front() {
                    return Some((Ok::<_, Error>(ev), (rx, agg, queue, tasks)));
                }
                // All tasks gone (cannot happen while `tasks` is alive, but end cleanly if it does).
                let msg = rx.recv().await?;
                queue.extend(agg.handle(msg));
            }
        },
    ))
}
