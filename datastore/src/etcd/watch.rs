//! The list-then-watch loop: one task per watch, owning its own endpoint pool.
//!
//! ```text
//!   ┌────────── list (paged, one revision R) ◄─────────────────────┐ compacted: relist
//!   ▼                                                              │ (Snapshot{relist: true})
//! Snapshot ──► one watch stream, one watcher per kind, each from   │
//!              next[kind] (R+1 at first) ──► Put / Deleted ────────┤
//!                   │ stream error / timeout                       │
//!                   ▼                                              │
//!              Unavailable (once) ─► backoff, next endpoint ─► re-watch from next[kind]
//!                                                      (Available once the watchers exist again)
//! ```
//! Every `Snapshot` is followed by `Available`. A watch started from a given revision skips the first list
//! (and relists at once if that revision is already compacted).
//! `next[kind]` is one past the mod_revision of the last event delivered for that kind (or past the
//! revision of a progress notification), so a re-created watcher repeats nothing and skips nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use etcd_client::{Client, GetOptions, WatchOptions, WatchResponse, WatchStream};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::EtcdConfig;
use super::error::EtcdError;
use super::keys::EtcdKeys;
use super::keys::KINDS;
use super::kv::{InvalidKey, RawRecord, RawSnapshot, list, prefix_end, record};
use super::pool::{Backoff, Pool, call};
use crate::model::Kind;

/// What the watch task reports, in order. Every `Snapshot` is followed by `Available`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawEvent {
    /// The complete state at a revision: the first list, or (with `relist`) a relist after the watch
    /// fell behind a compaction. It replaces everything reported before.
    Snapshot {
        /// The records.
        snapshot: RawSnapshot,
        /// True when this replaces an earlier snapshot (a resync).
        relist: bool,
    },
    /// A resource was created or changed.
    Put(RawRecord),
    /// A resource was deleted.
    Deleted {
        /// Its kind.
        kind: Kind,
        /// Its name.
        name: String,
        /// Its key.
        key: String,
        /// The revision of the deletion.
        revision: i64,
    },
    /// A key under a watched prefix that names no resource; skipped.
    InvalidKey(InvalidKey),
    /// etcd cannot be reached (reported once per outage); the last state still holds.
    Unavailable {
        /// The last error.
        error: String,
    },
    /// In step with etcd: after a snapshot, after the watchers of a watch from a revision exist, and after an
    /// outage once the watch resumed without a gap.
    Available,
}

/// The events of one watch. Dropping it stops the task.
#[derive(Debug)]
pub struct RawWatch {
    rx: mpsc::Receiver<RawEvent>,
    task: JoinHandle<()>,
}

impl RawWatch {
    /// The next event; `None` only if the task ended (it does not end on its own).
    pub async fn next(&mut self) -> Option<RawEvent> {
        self.rx.recv().await
    }
}

impl Stream for RawWatch {
    type Item = RawEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RawEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for RawWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the list-then-watch task; with `from`, watches changes after that revision without listing.
pub(crate) fn spawn(cfg: Arc<EtcdConfig>, pool: Pool, from: Option<i64>) -> RawWatch {
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(cfg, pool, tx, from));
    RawWatch { rx, task }
}

/// Why a watch stream ended.
enum End {
    /// A watcher's start revision was compacted: list again.
    Compacted(i64),
    /// The connection or the stream failed.
    Failed(EtcdError),
    /// Nobody listens any more.
    Closed,
}

struct Task {
    cfg: Arc<EtcdConfig>,
    pool: Pool,
    tx: mpsc::Sender<RawEvent>,
    backoff: Backoff,
    /// True between an `Unavailable` and the next `Available`.
    down: bool,
    /// An `Available` is owed once the watchers exist (after an outage, or first thing for a watch from a
    /// revision); the start position is then checked against compaction first.
    announce: bool,
}

async fn run(cfg: Arc<EtcdConfig>, pool: Pool, tx: mpsc::Sender<RawEvent>, from: Option<i64>) {
    let backoff = Backoff::new(&cfg);
    let mut t = Task {
        cfg,
        pool,
        tx,
        backoff,
        down: false,
        announce: false,
    };
    let mut listed_before = from.is_some();
    let mut from = from;
    loop {
        let mut next = match from.take() {
            Some(rev) => {
                t.announce = true;
                [rev.saturating_add(1); KINDS]
            }
            None => {
                let snapshot = match t.list().await {
                    Ok(s) => s,
                    Err(e) => {
                        if !t.failed(e).await {
                            return;
                        }
                        continue;
                    }
                };
                let next = [snapshot.revision + 1; KINDS];
                let event = RawEvent::Snapshot {
                    snapshot,
                    relist: listed_before,
                };
                listed_before = true;
                t.announce = true;
                if t.tx.send(event).await.is_err() || !t.up().await {
                    return;
                }
                next
            }
        };
        loop {
            match t.watch(&mut next).await {
                End::Compacted(rev) => {
                    tracing::info!(compact_revision = rev, "etcd watch position compacted; relisting");
                    break;
                }
                End::Failed(e) => {
                    if !t.failed(e).await {
                        return;
                    }
                }
                End::Closed => return,
            }
        }
    }
}

impl Task {
    /// Reports a failure (once per outage), moves to the next endpoint and waits. False if nobody listens.
    async fn failed(&mut self, e: EtcdError) -> bool {
        let endpoint = self.pool.endpoint().to_owned();
        tracing::warn!(%endpoint, error = %e, "etcd request failed");
        self.announce = true;
        if !self.down {
            self.down = true;
            let event = RawEvent::Unavailable { error: e.to_string() };
            if self.tx.send(event).await.is_err() {
                return false;
            }
        }
        let idx = self.pool.current_index();
        self.pool.failed(idx);
        let delay = self.backoff.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.tx.closed() => false,
        }
    }

    /// In step with etcd: reset the backoff and send the `Available` owed, if any.
    async fn up(&mut self) -> bool {
        self.backoff.reset();
        if self.down {
            tracing::info!(endpoint = %self.pool.endpoint(), "etcd reachable again");
        }
        self.down = false;
        if self.announce {
            self.announce = false;
            return self.tx.send(RawEvent::Available).await.is_ok();
        }
        true
    }

    async fn list(&mut self) -> Result<RawSnapshot, EtcdError> {
        let (mut client, _) = self.pool.client().await?;
        let endpoint = self.pool.endpoint().to_owned();
        list(
            &mut client,
            &endpoint,
            &Kind::ALL,
            &self.cfg.prefix,
            self.cfg.page_size,
            self.cfg.request_timeout,
        )
        .await
    }

    /// Opens one stream with a watcher per kind from `next`, then relays events until it ends.
    async fn watch(&mut self, next: &mut [i64; KINDS]) -> End {
        let endpoint = self.pool.endpoint().to_owned();
        let timeout = self.cfg.request_timeout;
        let mut client = match self.pool.client().await {
            Ok((c, _)) => c,
            Err(e) => return End::Failed(e),
        };
        if self.announce {
            // Resuming after an outage (or starting from a given revision): if the history since `next` is
            // compacted, relist now rather than report `Available` and then learn it from a canceled watcher.
            let at = next.iter().copied().min().unwrap_or(1).saturating_sub(1).max(1);
            let opts = GetOptions::new().with_count_only().with_revision(at);
            match call(
                &endpoint,
                timeout,
                client.get(self.cfg.prefix.as_str(), Some(opts)),
            )
            .await
            {
                Ok(_) => {}
                Err(EtcdError::Rejected(msg)) if msg.contains("compacted") => {
                    return End::Compacted(at);
                }
                // A start revision beyond the store's (a caller's mistake): the watch simply waits for it.
                Err(EtcdError::Rejected(msg)) if msg.contains("future revision") => {}
                Err(e) => return End::Failed(e),
            }
        }
        let mut stream = match open(&mut client, &endpoint, &self.cfg.prefix, next, timeout).await {
            Ok(s) => s,
            Err(e) => return End::Failed(e),
        };
        let mut created = [false; KINDS];
        let mut all_created = false;
        loop {
            let msg = if all_created {
                // Keep-alive pings on the HTTP/2 connection detect a dead peer on an idle stream.
                stream.message().await
            } else {
                match tokio::time::timeout(timeout, stream.message()).await {
                    Ok(m) => m,
                    Err(_) => {
                        return End::Failed(EtcdError::Unavailable {
                            endpoint,
                            reason: format!("watch not created within {timeout:?}"),
                        });
                    }
                }
            };
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return End::Failed(EtcdError::Unavailable {
                        endpoint,
                        reason: "watch stream closed by the server".into(),
                    });
                }
                Err(e) => return End::Failed(super::error::classify(&endpoint, &e)),
            };
            match self.handle(&resp, next, &mut created).await {
                Ok(()) => {}
                Err(end) => return end,
            }
            if !all_created && created.iter().all(|c| *c) {
                all_created = true;
                if !self.up().await {
                    return End::Closed;
                }
            }
        }
    }

    /// One watch response: creation, cancellation, progress or events.
    async fn handle(
        &mut self,
        resp: &WatchResponse,
        next: &mut [i64; KINDS],
        created: &mut [bool; KINDS],
    ) -> Result<(), End> {
        let Some(idx) = usize::try_from(resp.watch_id()).ok().filter(|i| *i < KINDS) else {
            // Progress answers to the whole stream carry watch id -1; nothing to do.
            return Ok(());
        };
        let kind = Kind::ALL[idx];
        if resp.canceled() {
            // etcd api/etcdserverpb: "compact_revision is set to the minimum index if a watcher tries to
            // watch at a compacted index ... The client should treat the watcher as canceled and should
            // not try to create any watcher with the same start_revision again."
            if resp.compact_revision() > 0 {
                return Err(End::Compacted(resp.compact_revision()));
            }
            return Err(End::Failed(EtcdError::Unavailable {
                endpoint: self.pool.endpoint().to_owned(),
                reason: format!("watch on {kind} canceled: {}", resp.cancel_reason()),
            }));
        }
        if resp.created() {
            created[idx] = true;
            return Ok(());
        }
        if resp.events().is_empty() {
            // A progress notification: every event of this watcher up to the header revision was sent.
            if let Some(h) = resp.header() {
                next[idx] = next[idx].max(h.revision() + 1);
            }
            return Ok(());
        }
        // One transaction (or a range delete) yields several events with the same revision; etcd sends all
        // events of a revision in one response. Never deliver twice what an earlier response covered
        // (cannot happen with a correct start revision; cheap to enforce).
        let floor = next[idx];
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let rev = kv.mod_revision();
            if rev < floor {
                continue;
            }
            next[idx] = next[idx].max(rev + 1);
            let prefix = &self.cfg.prefix;
            // A delete event carries the key and its deletion revision with version 0; a put has
            // version >= 1 (mvccpb.Event). Deciding on the version avoids `Event::event_type`, which
            // panics on an unknown type number.
            let event = if kv.version() == 0 {
                match kind.name_of(prefix, kv.key()) {
                    Ok(name) => RawEvent::Deleted {
                        kind,
                        name,
                        key: String::from_utf8_lossy(kv.key()).into_owned(),
                        revision: rev,
                    },
                    Err(reason) => RawEvent::InvalidKey(InvalidKey {
                        key: String::from_utf8_lossy(kv.key()).into_owned(),
                        reason,
                    }),
                }
            } else {
                match record(kind, prefix, kv) {
                    Ok(r) => RawEvent::Put(r),
                    Err(bad) => RawEvent::InvalidKey(bad),
                }
            };
            if self.tx.send(event).await.is_err() {
                return Err(End::Closed);
            }
        }
        Ok(())
    }
}

/// Opens a watch stream with one watcher per kind, watch id = kind index, each from `next[kind]`.
async fn open(
    client: &mut Client,
    endpoint: &str,
    prefix: &str,
    next: &[i64; KINDS],
    timeout: Duration,
) -> Result<WatchStream, EtcdError> {
    let options = |kind: Kind| {
        let i = kind.index();
        WatchOptions::new()
            .with_range(prefix_end(&kind.dir(prefix)))
            .with_start_revision(next[i])
            .with_watch_id(i as i64)
            .with_progress_notify()
    };
    let first = Kind::ALL[0];
    let mut stream = call(
        endpoint,
        timeout,
        client.watch(first.dir(prefix), Some(options(first))),
    )
    .await?;
    for kind in &Kind::ALL[1..] {
        call(
            endpoint,
            timeout,
            stream.watch(kind.dir(prefix), Some(options(*kind))),
        )
        .await?;
    }
    Ok(stream)
}
