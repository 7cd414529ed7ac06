//! One watch stream over the Calico kinds, built from kube's runtime [`watcher`].
//!
//! ```text
//!  watcher(nodes)              ─┐
//!  watcher(bgppeers)           ─┤  KindMsg (Init / InitApply / InitDone / Apply / Delete / Failed)
//!  watcher(bgpconfigurations)  ─┤ ─────────────► Aggregator ──► WatchEvent (Resync / Applied / Deleted /
//!  watcher(ippools)            ─┤   (mpsc)                       Invalid / Status)
//!  watcher(bgpfilters)         ─┘
//! ```
//!
//! - Each kind runs kube's `watcher` in its own task. The watcher lists (paged), then watches from the list's
//!   `resourceVersion` with bookmarks, resumes from the last seen or bookmarked version after a dropped
//!   connection, and relists by itself after `410 Gone` (`Init`, `InitApply`…, `InitDone`).
//! - Any other watcher error (connection refused, 5xx, 403) is reported as `Failed`; the task then starts a new
//!   watcher (a full relist) after a capped exponential backoff, so the consumer is brought up to date by a
//!   `Resync` after an outage.
//! - The aggregator holds the current state of every kind. The first `Resync` is sent once every kind has
//!   listed; afterwards a completed relist sends a `Resync` of all kinds (the other kinds from the held state,
//!   which is current), coalesced over 100 ms and until no other kind is relisting, so that a compaction that
//!   expires every watch at once yields one `Resync`, not four. `Status(Unavailable)` is sent on the first failure, `Status(Synced)` after
//!   the first `Resync` and again once every failed kind has relisted.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::convert;
use crate::Resource;
use crate::error::Error;
use crate::model::Kind;
use crate::store::{InvalidRecord, Revision, SyncStatus, Versioned, WatchEvent, WatchStream};

/// First delay before restarting a failed watcher.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest delay between restarts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a completed relist waits for other kinds' relists before the `Resync` is sent.
const RESYNC_COALESCE: Duration = Duration::from_millis(100);

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
    state: [BTreeMap<String, Versioned<Resource>>; Kind::ALL.len()],
    /// Objects received since `Init` for kinds that are relisting.
    pending: [Option<BTreeMap<String, Versioned<Resource>>>; Kind::ALL.len()],
    listed: [bool; Kind::ALL.len()],
    failed: [bool; Kind::ALL.len()],
    /// Invalid records seen during relists, reported right after the next `Resync`.
    invalid: Vec<InvalidRecord>,
    resynced: bool,
    unavailable: bool,
    /// A relist completed: send a `Resync` at this time unless another kind is relisting then.
    resync_due: Option<Instant>,
    revision: Revision,
}

impl Aggregator {
    fn bump(&mut self, r: Revision) {
        self.revision = self.revision.max(r);
    }

    /// Every kind listed, none relisting or failed.
    fn complete(&self) -> bool {
        self.listed.iter().all(|l| *l)
            && self.pending.iter().all(Option::is_none)
            && self.failed.iter().all(|f| !f)
    }

    /// When the coalesced `Resync` is due (only while every kind is complete).
    pub(crate) fn resync_deadline(&self) -> Option<Instant> {
        self.resync_due.filter(|_| self.complete())
    }

    /// The `Resync` of the held state, the invalid records seen while listing, and `Synced` if needed.
    pub(crate) fn flush(&mut self) -> Vec<WatchEvent> {
        let mut out = vec![WatchEvent::Resync {
            resources: self.state.iter().flat_map(|m| m.values().cloned()).collect(),
            revision: self.revision,
        }];
        out.extend(self.invalid.drain(..).map(WatchEvent::Invalid));
        if !self.resynced || self.unavailable {
            out.push(WatchEvent::Status(SyncStatus::Synced));
        }
        self.resynced = true;
        self.unavailable = false;
        self.resync_due = None;
        out
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
                        if self.complete() {
                            if self.resynced {
                                // A relist of one kind: wait briefly for the other kinds' relists (a compaction
                                // expires every watch at once) and send one Resync for all of them.
                                self.resync_due
                                    .get_or_insert_with(|| Instant::now() + RESYNC_COALESCE);
                            } else {
                                out.extend(self.flush());
                            }
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
                // `None` from `recv`: all tasks gone (cannot happen while `tasks` is alive); end cleanly.
                match agg.resync_deadline() {
                    Some(due) => tokio::select! {
                        msg = rx.recv() => queue.extend(agg.handle(msg?)),
                        () = tokio::time::sleep_until(due) => queue.extend(agg.flush()),
                    },
                    None => {
                        let msg = rx.recv().await?;
                        queue.extend(agg.handle(msg));
                    }
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    use super::*;

    fn obj(name: &str, rv: u64, spec: serde_json::Value) -> DynamicObject {
        DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                resource_version: Some(rv.to_string()),
                ..ObjectMeta::default()
            },
            data: json!({ "spec": spec }),
        }
    }

    fn ev(agg: &mut Aggregator, kind: Kind, e: Event<DynamicObject>) -> Vec<WatchEvent> {
        agg.handle(KindMsg::Event(kind, Box::new(e)))
    }

    fn list(agg: &mut Aggregator, kind: Kind, objs: Vec<DynamicObject>) -> Vec<WatchEvent> {
        let mut out = ev(agg, kind, Event::Init);
        for o in objs {
            out.extend(ev(agg, kind, Event::InitApply(o)));
        }
        out.extend(ev(agg, kind, Event::InitDone));
        out
    }

    fn resync_names(e: &WatchEvent) -> Vec<String> {
        match e {
            WatchEvent::Resync { resources, .. } => {
                resources.iter().map(|r| r.value.name().to_owned()).collect()
            }
            other => panic!("not a resync: {other:?}"),
        }
    }

    #[test]
    fn first_resync_waits_for_every_kind_then_relists_coalesce() {
        let mut agg = Aggregator::default();
        assert!(list(&mut agg, Kind::Node, vec![obj("n1", 5, json!({}))]).is_empty());
        assert!(list(&mut agg, Kind::BgpPeer, vec![obj("p1", 6, json!({}))]).is_empty());
        assert!(list(&mut agg, Kind::BgpConfiguration, vec![]).is_empty());
        assert!(list(&mut agg, Kind::IpPool, vec![]).is_empty());
        let out = list(&mut agg, Kind::BgpFilter, vec![]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(resync_names(&out[0]), ["n1", "p1"]);
        assert!(matches!(
            &out[0],
            WatchEvent::Resync {
                revision: Revision(6),
                ..
            }
        ));
        assert_eq!(out[1], WatchEvent::Status(SyncStatus::Synced));
        assert_eq!(agg.resync_deadline(), None);

        // A compaction: nodes and peers both relist (410), interleaved with a live event of another kind.
        assert!(ev(&mut agg, Kind::Node, Event::Init).is_empty());
        assert!(ev(&mut agg, Kind::Node, Event::InitApply(obj("n2", 9, json!({})))).is_empty());
        assert!(ev(&mut agg, Kind::BgpPeer, Event::Init).is_empty());
        assert!(ev(&mut agg, Kind::Node, Event::InitDone).is_empty());
        assert_eq!(agg.resync_deadline(), None, "peers still relisting");
        let live = ev(
            &mut agg,
            Kind::IpPool,
            Event::Apply(obj("pool", 10, json!({"cidr": "10.0.0.0/16"}))),
        );
        assert!(
            matches!(&live[..], [WatchEvent::Applied(v)] if v.value.name() == "pool"),
            "{live:?}"
        );
        assert!(list(&mut agg, Kind::BgpPeer, vec![obj("p1", 6, json!({}))]).is_empty());
        assert!(agg.resync_deadline().is_some());
        let out = agg.flush();
        assert_eq!(out.len(), 1, "one Resync, no Synced (never unavailable): {out:?}");
        assert_eq!(resync_names(&out[0]), ["n2", "p1", "pool"]);
        assert_eq!(agg.resync_deadline(), None);
    }

    #[test]
    fn failures_report_unavailable_once_and_synced_after_the_relist() {
        let mut agg = Aggregator::default();
        for k in Kind::ALL {
            list(&mut agg, k, vec![]);
        }
        let out = agg.handle(KindMsg::Failed(Kind::Node, "connection refused".into()));
        assert!(matches!(&out[..], [WatchEvent::Status(SyncStatus::Unavailable(m))] if m.contains("nodes")));
        assert!(
            agg.handle(KindMsg::Failed(Kind::BgpPeer, "connection refused".into()))
                .is_empty()
        );
        assert!(list(&mut agg, Kind::Node, vec![obj("n1", 3, json!({}))]).is_empty());
        assert_eq!(agg.resync_deadline(), None, "peers still failed");
        list(&mut agg, Kind::BgpPeer, vec![]);
        let out = agg.flush();
        assert_eq!(resync_names(&out[0]), ["n1"]);
        assert_eq!(out.last(), Some(&WatchEvent::Status(SyncStatus::Synced)));
        // Invalid records: reported, and a delete of an unknown object still reported.
        let bad = ev(
            &mut agg,
            Kind::BgpPeer,
            Event::Apply(obj("bad", 7, json!({"peerIP": "x"}))),
        );
        assert!(matches!(&bad[..], [WatchEvent::Invalid(r)] if r.name.as_deref() == Some("bad")));
        let del = ev(&mut agg, Kind::BgpPeer, Event::Delete(obj("bad", 8, json!({}))));
        assert!(matches!(
            &del[..],
            [WatchEvent::Deleted {
                kind: Kind::BgpPeer,
                revision: Revision(8),
                ..
            }]
        ));
    }
}
