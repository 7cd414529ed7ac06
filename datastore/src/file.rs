//! The file backend: a multi-document YAML of calicoctl-style `projectcalico.org/v3` manifests.
//!
//! - Each document is one manifest (`apiVersion`, `kind`, `metadata`, `spec`), or a `kind: List` whose `items`
//!   are manifests. Empty documents are ignored.
//! - The file is reloaded when it changes: a `notify` watch on its directory (editors often replace the file
//!   by renaming), plus a poll every [`FileDatastore::DEFAULT_POLL`] as a fallback (network file systems,
//!   missed events). An automatic reload first compares the file's metadata (size, modification and change
//!   times, inode) with the last read's and reads nothing when they match and the file had not changed for
//!   [`STABLE`] before that read (timestamps are coarse: a write in the same tick as the read could keep the
//!   same modification time); every [`FULL_READ_EVERY`]th poll reads anyway (file systems whose metadata
//!   lags). Re-reading and comparing a 20,000-Node file every poll was a quarter of an idle reflector's CPU.
//! - A missing file, or one with no document at all (empty, blank, only comments or `---`), is not an empty
//!   datastore: it is reported ([`SyncStatus::Unavailable`] naming the file and saying "missing" or "empty",
//!   and a WARN line) and the last good state stays in force until a file with documents returns. Deleting or
//!   truncating the file by mistake therefore never drops every session. A datastore that is meant to be
//!   empty says so explicitly with a `kind: List` document whose `items` are empty (writes that remove the
//!   last object write exactly that):
//!
//!   ```yaml
//!   apiVersion: projectcalico.org/v3
//!   kind: List
//!   items: []
//!   ```
//! - An invalid edit is reported as [`WatchEvent::Invalid`] naming the file, the document (1-based, e.g.
//!   `rr.yaml#3` or `rr.yaml#2.items[4]`) and the field, and the last good state stays in force: a document
//!   with a readable kind and name keeps that object's last good version; a YAML syntax error or a document
//!   that cannot be attributed to an object rejects the whole reload.
//! - A document of a kind the reflector does not read (anything but Node, BGPPeer, BGPConfiguration, IPPool and
//!   BGPFilter, e.g. a FelixConfiguration or a Secret) is skipped with a warning naming it; the rest of the file
//!   applies.
//! - Writes re-read the file (to see external edits), check the revision (compare-and-swap), and rewrite the
//!   whole file atomically (temporary file + rename). Comments in the file are not preserved by writes.
//! - Revisions are a counter kept by this process: it increases on every reload that changes something and on
//!   every write. Watches replay from a bounded history; older revisions get a `Resync`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::model::{Kind, Resource};
use crate::store::{
    Datastore, InvalidRecord, Listing, Revision, SyncStatus, Versioned, WatchEvent, WatchStream,
};

/// The document of an intentionally empty datastore file.
pub const EXPLICIT_EMPTY: &str = "apiVersion: projectcalico.org/v3\nkind: List\nitems: []\n";

/// Events kept for replaying `watch(Some(rev))`. Only a watch opened from an earlier revision replays them
/// (the daemon's follower re-opening its stream); one from before the oldest kept gets a `Resync`, which is
/// as correct, only larger. An entry holds a whole resource (about 600 bytes before its strings), so the
/// bound is small: at 4096 the history of a soak's Nodes added and removed every 30 s held 5 MiB after an hour
/// and looked like a leak per removed peer (issue 14).
const HISTORY: usize = 256;

type Key = (Kind, String);

/// How long the file must have been unmodified before a read for its metadata alone to tell it unchanged later.
pub const STABLE: Duration = Duration::from_secs(2);

/// Every this many automatic reloads whose metadata matched, the file is read anyway.
pub const FULL_READ_EVERY: u32 = 15;

/// What a read of the file saw, to skip re-reading text that cannot have changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Meta {
    len: u64,
    modified: std::time::SystemTime,
    ctime: (i64, i64),
    ino: (u64, u64),
}

impl Meta {
    fn of(path: &Path) -> Option<Meta> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        Some(Meta {
            len: m.len(),
            modified: m.modified().ok()?,
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: (m.dev(), m.ino()),
        })
    }
}

/// Whether the file, whose metadata is now `now`, still holds the text read when its metadata was `last`
/// (`.0`, taken at `.1`), without reading it: the same metadata, the file unmodified for [`STABLE`] before
/// that read, and fewer than [`FULL_READ_EVERY`] reloads skipped in a row (`skipped`).
fn unchanged(now: Option<Meta>, last: Option<(Meta, std::time::SystemTime)>, skipped: u32) -> bool {
    let (Some(m), Some((last, read_at))) = (now, last) else {
        return false;
    };
    m == last && skipped + 1 < FULL_READ_EVERY && m.modified.checked_add(STABLE).is_some_and(|t| t <= read_at)
}

/// A digest of file text: equal texts give equal digests; different ones (practically) never do. Kept
/// instead of the text itself (8 MB at 20,000 Nodes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Digest {
    len: usize,
    hash: u64,
}

impl Digest {
    fn of(text: &str) -> Digest {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::hash::DefaultHasher::new();
        text.hash(&mut h);
        Digest {
            len: text.len(),
            hash: h.finish(),
        }
    }
}
/// The file-backed datastore. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FileDatastore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FileDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDatastore")
            .field("path", &self.inner.path)
            .finish()
    }
}

struct Inner {
    path: PathBuf,
    state: Mutex<State>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Versioned<Resource>>,
    invalid: Vec<InvalidRecord>,
    revision: u64,
    /// Digest of the file text last loaded or written (to skip no-op reloads).
    last_text: Option<Digest>,
    /// The file's metadata just before the text of `last_text` was read, and when that was.
    last_meta: Option<(Meta, std::time::SystemTime)>,
    /// Automatic reloads skipped on metadata since the last read.
    skipped: u32,
    /// Whether the last read failed (reported as `Unavailable`).
    unreadable: Option<String>,
    history: VecDeque<(u64, WatchEvent)>,
    /// Revisions after this one are all in `history`.
    history_floor: u64,
    watchers: Vec<mpsc::UnboundedSender<WatchEvent>>,
}

impl State {
    fn broadcast(&mut self, ev: &WatchEvent) {
        self.watchers.retain(|w| w.send(ev.clone()).is_ok());
    }

    fn record(&mut self, rev: u64, ev: WatchEvent) {
        self.broadcast(&ev);
        // Room first: pushing onto a full deque would double its allocation for good.
        while self.history.len() >= HISTORY {
            if let Some((r, _)) = self.history.pop_front() {
                // Replaying from before `r` is no longer possible.
                self.history_floor = self.history_floor.max(r);
            }
        }
        self.history.push_back((rev, ev));
    }

    fn resync_event(&self) -> WatchEvent {
        WatchEvent::Resync {
            resources: self.objects.values().cloned().collect(),
            revision: Revision(self.revision),
        }
    }
}

/// The outcome of parsing the file text.
struct Parsed {
    /// Valid objects, in file order of first appearance.
    objects: BTreeMap<Key, Resource>,
    /// Invalid documents, with the object they name when readable.
    invalid: Vec<(Option<Key>, InvalidRecord)>,
    /// Set when the whole file must be rejected.
    fatal: bool,
    /// Non-empty documents seen (a `kind: List` counts as one, even with no items).
    documents: usize,
    /// Keys in file order.
    order: Vec<Key>,
}

fn parse_text(path: &Path, text: &str) -> Parsed {
    let file = path.display().to_string();
    let mut out = Parsed {
        objects: BTreeMap::new(),
        invalid: Vec::new(),
        fatal: false,
        documents: 0,
        order: Vec::new(),
    };
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let source = format!("{file}#{}", i + 1);
        let value = match serde_json::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                out.fatal = true;
                out.invalid.push((
                    None,
                    record(
                        None,
                        None,
                        &source,
                        Error::invalid(&source, "", "", e.to_string()),
                    ),
                ));
                // After a syntax error the document stream cannot be trusted.
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        out.documents += 1;
        let is_list = value.get("kind").and_then(|k| k.as_str()) == Some("List");
        if is_list {
            let items = value
                .get("items")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            for (j, item) in items.into_iter().enumerate() {
                add_doc(&mut out, format!("{source}.items[{j}]"), item);
            }
        } else {
            add_doc(&mut out, source, value);
        }
    }
    out
}

/// Parses a multi-document YAML of manifests (as `calicoctl apply -f` reads), naming each document
/// `source#N` (1-based; `source#N.items[i]` inside a `kind: List`). Returns the valid resources in file order
/// and the invalid documents; a YAML syntax error stops the parse there.
pub fn parse_manifests(source: &str, text: &str) -> (Vec<Resource>, Vec<InvalidRecord>) {
    let mut parsed = parse_text(Path::new(source), text);
    let resources = parsed
        .order
        .iter()
        .filter_map(|k| parsed.objects.remove(k))
        .collect();
    (resources, parsed.invalid.into_iter().map(|(_, r)| r).collect())
}

fn record(kind: Option<Kind>, name: Option<String>, source: &str, error: Error) -> InvalidRecord {
    InvalidRecord {
        kind,
        name,
        source: source.to_string(),
        error,
    }
}

fn add_doc(out: &mut Parsed, source: String, value: serde_json::Value) {
    let kind_str = value.get("kind").and_then(|k| k.as_str());
    if let Some(other) = kind_str.filter(|k| Kind::parse(k).is_none()) {
        // A kind the reflector does not read (FelixConfiguration, a Kubernetes Secret, ...): the rest of the
        // file still applies.
        tracing::warn!(source = %source, kind = other,
            "skipping a document of a kind the reflector does not use");
        return;
    }
    let kind = kind_str.and_then(Kind::parse);
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    match Resource::from_value(value) {
        Ok(r) => {
            let key = (r.kind(), r.name().to_string());
            match out.objects.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    let (k, n) = e.key().clone();
                    let err = Error::invalid(
                        format!("{k}/{n}"),
                        "metadata.name",
                        &n,
                        format!("duplicate {k} in {source}: the first one is used"),
                    );
                    out.invalid.push((None, record(Some(k), Some(n), &source, err)));
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    out.order.push(e.key().clone());
                    e.insert(r);
                }
            }
        }
        Err(e) => {
            let key = kind.zip(name.clone());
            if key.is_none() {
                out.fatal = true;
            }
            out.invalid.push((key, record(kind, name, &source, e)));
        }
    }
}

impl FileDatastore {
    /// The default poll interval of the change-detection fallback.
    pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

    /// Opens (and loads) the file, and when called inside a tokio runtime starts reloading it on change with
    /// [`Self::DEFAULT_POLL`] as the poll fallback. A missing or empty file opens with no objects and reports
    /// itself unavailable (its first write creates it); an unreadable one is an error.
    pub fn open(path: impl Into<PathBuf>) -> Result<FileDatastore, Error> {
        Self::open_with_poll(path, Self::DEFAULT_POLL)
    }

    /// Like [`Self::open`] with a custom poll interval.
    pub fn open_with_poll(path: impl Into<PathBuf>, poll: Duration) -> Result<FileDatastore, Error> {
        let path = path.into();
        let store = FileDatastore {
            inner: Arc::new(Inner {
                path,
                state: Mutex::new(State::default()),
                watcher: Mutex::new(None),
            }),
        };
        store.reload_inner(true)?;
        if tokio::runtime::Handle::try_current().is_ok() {
            store.start_watching(poll);
        }
        Ok(store)
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Re-reads the file now (normally done automatically). Returns true if the state changed.
    pub fn reload(&self) -> Result<bool, Error> {
        self.reload_inner(false)
    }

    /// An automatic reload that only applies content that has stopped changing: editors that truncate and
    /// rewrite, or delete and recreate, would otherwise make objects vanish for a moment (and sessions flap).
    async fn reload_settled(&self) {
        const SETTLE: Duration = Duration::from_millis(100);
        let now = std::time::SystemTime::now();
        let meta = Meta::of(&self.inner.path);
        {
            let mut st = self.lock();
            if st.unreadable.is_none() && unchanged(meta, st.last_meta, st.skipped) {
                st.skipped += 1;
                return;
            }
        }
        let mut text = self.read_text();
        {
            let mut st = self.lock();
            // The metadata from before this read: if the text changes after it (also while it settles
            // below), the next look sees newer metadata and reads again.
            st.last_meta = meta.map(|m| (m, now));
            st.skipped = 0;
            if let Ok(t) = &text
                && t.as_deref().map(Digest::of) == st.last_text
                && st.unreadable.is_none()
            {
                return;
            }
        }
        for _ in 0..20 {
            tokio::time::sleep(SETTLE).await;
            let again = self.read_text();
            if again == text {
                break;
            }
            text = again;
        }
        let mut st = self.lock();
        match text {
            Ok(t) => {
                self.apply_text(&mut st, t);
            }
            Err(e) => {
                mark_unreadable(&mut st, e.to_string());
            }
        }
    }

    /// Forgets the replay history, so that a `watch(Some(rev))` from before now gets a `Resync`
    /// (the equivalent of an etcd compaction; used by the conformance battery).
    pub fn compact_history(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.history.shrink_to_fit();
        st.history_floor = st.revision;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update; the data is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's text; `None` when the file does not exist.
    fn read_text(&self) -> Result<Option<String>, Error> {
        match std::fs::read_to_string(&self.inner.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Unavailable(format!(
                "reading {}: {e}",
                self.inner.path.display()
            ))),
        }
    }

    fn reload_inner(&self, initial: bool) -> Result<bool, Error> {
        let text = match self.read_text() {
            Ok(t) => t,
            Err(e) => {
                let mut st = self.lock();
                if initial {
                    return Err(e);
                }
                mark_unreadable(&mut st, e.to_string());
                return Ok(false);
            }
        };
        let mut st = self.lock();
        Ok(self.apply_text(&mut st, text))
    }

    /// Folds new file text (`None`: the file is missing) into the state; returns true if objects changed.
    /// A missing or empty file is reported and changes nothing. After an outage, `Synced` is announced once
    /// the changes are out.
    fn apply_text(&self, st: &mut State, text: Option<String>) -> bool {
        let Some(text) = text else {
            st.last_text = None;
            st.last_meta = None;
            mark_unreadable(
                st,
                format!("datastore file {} is missing", self.inner.path.display()),
            );
            return false;
        };
        let digest = Digest::of(&text);
        if st.last_text == Some(digest) && st.unreadable.is_none() {
            return false;
        }
        let parsed = parse_text(&self.inner.path, &text);
        st.last_text = Some(digest);
        if parsed.documents == 0 && !parsed.fatal {
            mark_unreadable(
                st,
                format!(
                    "datastore file {} is empty (no document; an intentionally empty datastore is a \
                     `kind: List` with `items: []`)",
                    self.inner.path.display()
                ),
            );
            return false;
        }
        let was_unreadable = st.unreadable.take().is_some();
        let changed = self.apply_parsed(st, parsed);
        if was_unreadable {
            tracing::info!(file = %self.inner.path.display(), "datastore file readable again");
            st.broadcast(&WatchEvent::Status(SyncStatus::Synced));
        }
        changed
    }

    fn apply_parsed(&self, st: &mut State, parsed: Parsed) -> bool {
        let records: Vec<InvalidRecord> = parsed.invalid.iter().map(|(_, r)| r.clone()).collect();
        // Summarised: the first few, then a count (a generated file can hold thousands).
        for r in records.iter().take(crate::snapshot::LOGGED_INVALID) {
            tracing::warn!(record = %r, "invalid document in datastore file");
        }
        if records.len() > crate::snapshot::LOGGED_INVALID {
            tracing::warn!(
                file = %self.inner.path.display(),
                invalid = records.len(),
                "invalid documents in datastore file: {} more not logged",
                records.len() - crate::snapshot::LOGGED_INVALID
            );
        }
        for r in &records {
            st.broadcast(&WatchEvent::Invalid(r.clone()));
        }
        st.invalid = records;
        if parsed.fatal {
            tracing::warn!(file = %self.inner.path.display(), "datastore file rejected; keeping the last good state");
            return false;
        }
        let mut next = parsed.objects;
        // Objects whose new document is invalid keep their last good version.
        for (key, _) in &parsed.invalid {
            if let Some(key) = key
                && let Some(old) = st.objects.get(key)
            {
                next.insert(key.clone(), old.value.clone());
            }
        }
        let rev = st.revision + 1;
        let mut events = Vec::new();
        for (key, r) in &next {
            if st.objects.get(key).map(|v| &v.value) != Some(r) {
                events.push(WatchEvent::Applied(Versioned::new(r.clone(), Revision(rev))));
            }
        }
        for key in st.objects.keys() {
            if !next.contains_key(key) {
                events.push(WatchEvent::Deleted {
                    kind: key.0,
                    name: key.1.clone(),
                    revision: Revision(rev),
                });
            }
        }
        if events.is_empty() {
            return false;
        }
        st.revision = rev;
        for ev in events {
            match &ev {
                WatchEvent::Applied(v) => {
                    st.objects
                        .insert((v.value.kind(), v.value.name().to_string()), v.clone());
                }
                WatchEvent::Deleted { kind, name, .. } => {
                    st.objects.remove(&(*kind, name.clone()));
                }
                _ => {}
            }
            st.record(rev, ev);
        }
        true
    }

    fn start_watching(&self, poll: Duration) {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let file_name = self.inner.path.file_name().map(|n| n.to_os_string());
        let handler = move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
            {
                let _ = tx.send(());
            }
        };
        let dir = match self.inner.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match notify::recommended_watcher(handler) {
            Ok(mut w) => {
                use notify::Watcher as _;
                if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!(error = %e, "cannot watch datastore directory; polling only");
                }
                *self.inner.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
            }
            Err(e) => tracing::warn!(error = %e, "file watching unavailable; polling only"),
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    ev = rx.recv() => {
                        if ev.is_none() {
                            // The watcher is gone; keep polling.
                            rx = mpsc::unbounded_channel().1;
                        }
                        // Let the writer finish (editors write in several steps), then coalesce.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        while rx.try_recv().is_ok() {}
                    }
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let store = FileDatastore { inner };
                store.reload_settled().await;
            }
        });
    }

    /// Renders every object as a multi-document YAML; no object at all is an explicit empty `List` (an
    /// empty file would read as a mistake).
    fn render(objects: &BTreeMap<Key, Versioned<Resource>>) -> Result<String, Error> {
        if objects.is_empty() {
            return Ok(EXPLICIT_EMPTY.to_string());
        }
        let mut out = String::new();
        for v in objects.values() {
            let doc = serde_yaml_ng::to_string(&v.value)
                .map_err(|e| Error::Backend(format!("serializing {}: {e}", v.value.id())))?;
            out.push_str("---\n");
            out.push_str(&doc);
        }
        Ok(out)
    }

    /// Runs a write: refresh from disk, let `f` change the objects, write the file, publish events.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<Key, Versioned<Resource>>, Revision) -> Result<(T, WatchEvent), Error>,
    ) -> Result<T, Error> {
        let text = self.read_text()?;
        let mut st = self.lock();
        // A missing file is created by the first write: only its absence is reported, not the write.
        self.apply_text(&mut st, text);
        let rev = Revision(st.revision + 1);
        let mut objects = st.objects.clone();
        let (result, event) = f(&mut objects, rev)?;
        let rendered = Self::render(&objects)?;
        let path = &self.inner.path;
        let tmp = path.with_file_name(format!(
            ".{}.tmp{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::write(&tmp, &rendered)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::Unavailable(format!("writing {}: {e}", path.display())))?;
        st.objects = objects;
        st.revision = rev.0;
        st.last_text = Some(Digest::of(&rendered));
        // Written by us just now: the next automatic reload reads it (its timestamps are recent).
        st.last_meta = None;
        st.invalid.clear();
        st.record(rev.0, event);
        if st.unreadable.take().is_some() {
            st.broadcast(&WatchEvent::Status(SyncStatus::Synced));
        }
        Ok(result)
    }
}

#[async_trait]
impl Datastore for FileDatastore {
    async fn list(&self, kind: Kind) -> Result<Listing, Error> {
        let st = self.lock();
        Ok(Listing {
            resources: st
                .objects
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|(_, v)| v.clone())
                .collect(),
            invalid: st
                .invalid
                .iter()
                .filter(|r| r.kind.is_none_or(|k| k == kind))
                .cloned()
                .collect(),
            revision: Revision(st.revision),
        })
    }

    async fn watch(&self, from: Option<Revision>) -> Result<WatchStream, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        let mut initial = Vec::new();
        match from {
            Some(r) if r.0 >= st.history_floor && r.0 <= st.revision => {
                initial.extend(
                    st.history
                        .iter()
                        .filter(|(rev, _)| *rev > r.0)
                        .map(|(_, e)| e.clone()),
                );
            }
            _ => {
                initial.push(st.resync_event());
                initial.extend(st.invalid.iter().cloned().map(WatchEvent::Invalid));
            }
        }
        initial.push(match &st.unreadable {
            None => WatchEvent::Status(SyncStatus::Synced),
            Some(msg) => WatchEvent::Status(SyncStatus::Unavailable(msg.clone())),
        });
        st.watchers.push(tx);
        drop(st);
        let rest = tokio_stream_from(rx);
        Ok(futures::stream::iter(initial).chain(rest).map(Ok).boxed())
    }

    async fn get(&self, kind: Kind, name: &str) -> Result<Versioned<Resource>, Error> {
        self.lock()
            .objects
            .get(&(kind, name.to_string()))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                kind,
                name: name.to_string(),
            })
    }

    async fn create(&self, resource: &Resource) -> Result<Revision, Error> {
        let resource = validated(resource)?;
        self.write(|objects, rev| {
            let key = (resource.kind(), resource.name().to_string());
            if objects.contains_key(&key) {
                return Err(Error::AlreadyExists {
                    kind: key.0,
                    name: key.1,
                });
            }
            let v = Versioned::new(resource, rev);
            objects.insert(key, v.clone());
            Ok((rev, WatchEvent::Applied(v)))
        })
    }

    async fn update(&self, resource: &Resource, expected: Revision) -> Result<Revision, Error> {
        let resource = validated(resource)?;
        self.write(|objects, rev| {
            let key = (resource.kind(), resource.name().to_string());
            let Some(cur) = objects.get(&key) else {
                return Err(Error::NotFound {
                    kind: key.0,
                    name: key.1,
                });
            };
            if cur.revision != expected {
                return Err(Error::Conflict {
                    kind: key.0,
                    name: key.1,
                    expected,
                    actual: Some(cur.revision),
                });
            }
            let v = Versioned::new(resource, rev);
            objects.insert(key, v.clone());
            Ok((rev, WatchEvent::Applied(v)))
        })
    }

    async fn delete(&self, kind: Kind, name: &str, expected: Option<Revision>) -> Result<(), Error> {
        self.write(|objects, rev| {
            let key = (kind, name.to_string());
            let Some(cur) = objects.get(&key) else {
                return Err(Error::NotFound {
                    kind,
                    name: name.to_string(),
                });
            };
            if let Some(exp) = expected
                && cur.revision != exp
            {
                return Err(Error::Conflict {
                    kind,
                    name: name.to_string(),
                    expected: exp,
                    actual: Some(cur.revision),
                });
            }
            objects.remove(&key);
            Ok((
                (),
                WatchEvent::Deleted {
                    kind,
                    name: name.to_string(),
                    revision: rev,
                },
            ))
        })
    }
}

/// Records that the file cannot be read (announced once per distinct error).
fn mark_unreadable(st: &mut State, msg: String) {
    if st.unreadable.as_deref() != Some(&msg) {
        tracing::warn!(reason = %msg, "datastore file not usable: keeping the last good state until it is");
        st.broadcast(&WatchEvent::Status(SyncStatus::Unavailable(msg.clone())));
        st.unreadable = Some(msg);
    }
}

/// Round-trips a resource through its manifest form so that only valid resources are written.
fn validated(r: &Resource) -> Result<Resource, Error> {
    let mut r = Resource::from_value(r.to_value())?;
    r.metadata_mut().resource_version = None;
    Ok(r)
}

/// Adapts an unbounded receiver into a stream.
fn tokio_stream_from<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_alone_tells_a_file_unchanged_only_when_it_was_stable_before_the_read() {
        let t0 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let m = Meta {
            len: 100,
            modified: t0,
            ctime: (1_000_000, 0),
            ino: (1, 2),
        };
        let read_late = t0 + STABLE;
        assert!(unchanged(Some(m), Some((m, read_late)), 0), "same, stable: skip");
        assert!(
            !unchanged(Some(m), Some((m, t0 + STABLE / 2)), 0),
            "read within STABLE of the last modification: a write in the same timestamp tick could hide"
        );
        assert!(
            !unchanged(Some(m), Some((m, read_late)), FULL_READ_EVERY - 1),
            "read anyway every FULL_READ_EVERY"
        );
        assert!(unchanged(Some(m), Some((m, read_late)), FULL_READ_EVERY - 2));
        for other in [
            Meta { len: 101, ..m },
            Meta {
                modified: t0 + Duration::from_nanos(1),
                ..m
            },
            Meta {
                ctime: (1_000_000, 1),
                ..m
            },
            Meta { ino: (1, 3), ..m },
        ] {
            assert!(!unchanged(Some(other), Some((m, read_late)), 0), "{other:?}");
        }
        assert!(!unchanged(None, Some((m, read_late)), 0), "missing now");
        assert!(!unchanged(Some(m), None, 0), "never read");
    }

    #[test]
    fn digests_tell_texts_apart() {
        assert_eq!(Digest::of("abc"), Digest::of("abc"));
        assert_ne!(Digest::of("abc"), Digest::of("abd"));
        assert_ne!(Digest::of("abc"), Digest::of("abc "));
    }

    /// The datastore file: a BGPConfiguration and `extra` Nodes.
    fn text(extra: usize) -> String {
        let mut y = String::from(
            "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n\
             spec: {asNumber: 64512}\n",
        );
        for k in 0..extra {
            y.push_str(&format!(
                "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: extra-{k}}}\n\
                 spec: {{bgp: {{ipv4Address: 10.9.{}.{}/32}}}}\n",
                k / 250,
                k % 250 + 1
            ));
        }
        y
    }

    /// Issue 14 (soak): Nodes added and removed again and again leave nothing behind but a bounded replay
    /// history, bounded in what it allocates too (pushing before popping once doubled the deque for good).
    #[test]
    fn adding_and_removing_nodes_keeps_the_history_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("calico.yaml");
        std::fs::write(&path, text(0)).expect("write");
        // Outside a runtime: no watcher, reloads are explicit.
        let store = FileDatastore::open(&path).expect("open");
        let baseline = store.lock().objects.len();
        for _ in 0..60 {
            for n in [50, 0] {
                std::fs::write(&path, text(n)).expect("write");
                assert!(store.reload().expect("reload"));
            }
        }
        let st = store.lock();
        assert_eq!(st.objects.len(), baseline);
        assert_eq!(st.history.len(), HISTORY);
        assert!(
            st.history.capacity() <= HISTORY,
            "history capacity {} for {HISTORY} events",
            st.history.capacity()
        );
        let bytes = st.history.capacity() * std::mem::size_of::<(u64, WatchEvent)>();
        assert!(bytes <= 256 * 1024, "the history holds {bytes} bytes");
        // The oldest kept revision bounds replays; older watches resync.
        let oldest = st.history.front().map(|(r, _)| *r).expect("history");
        assert!(st.history_floor <= oldest);
        assert!(st.history_floor > 0);
    }
}
