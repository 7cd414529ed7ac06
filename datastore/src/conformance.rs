//! The conformance battery every [`Datastore`] backend runs.
//!
//! A backend test implements [`Harness`] (how to reach the store, how to plant a record that does not parse,
//! how to force a relist) on a fresh, empty store and calls [`run_all`], or the individual checks:
//!
//! ```no_run
//! # async fn demo() -> Result<(), datastore::conformance::ConformanceError> {
//! use datastore::conformance::{self, FileHarness};
//! let dir = std::env::temp_dir().join("conformance-demo");
//! std::fs::create_dir_all(&dir).ok();
//! let harness = FileHarness::new(dir.join("calico.yaml")).expect("open");
//! conformance::run_all(&harness).await?;
//! # Ok(()) }
//! ```
//!
//! Every check uses its own object names (prefixed `conf-<check>-`), so the checks can run one after another
//! on the same store. They compare resources by kind, name, labels and spec (backends may add metadata such as
//! uid or creation time). Each watch step waits at most [`Harness::event_timeout`].

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::Error;
use crate::file::FileDatastore;
use crate::model::{
    AsNumber, BgpConfiguration, BgpFilter, BgpPeer, IpPool, IpPoolSpec, Kind, Metadata, Node, NodeAddress,
    NodeBgpSpec, Resource,
};
use crate::store::{Datastore, Revision, SyncStatus, WatchEvent, WatchStream};

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conformance check {check} failed: {message}")]
pub struct ConformanceError {
    /// The check that failed.
    pub check: &'static str,
    /// What went wrong.
    pub message: String,
}

type Outcome = Result<(), ConformanceError>;

/// What the battery needs from a backend test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The store under test.
    fn store(&self) -> &dyn Datastore;

    /// Writes, bypassing validation, a record of `kind` named `name` that does not parse (e.g. a `spec.peerIP`
    /// of `"not-an-ip"`, or bytes that are not JSON), so that list and watch must report it as invalid.
    async fn write_invalid(&self, kind: Kind, name: &str) -> Result<(), Error>;

    /// Removes what [`Harness::write_invalid`] wrote.
    async fn remove_invalid(&self, kind: Kind, name: &str) -> Result<(), Error>;

    /// Makes the backend unable to replay history from revisions before now (etcd compaction, a Kubernetes
    /// 410 Gone), so that a watch from an old revision must resync. Returns false if the harness cannot.
    async fn force_resync(&self) -> Result<bool, Error> {
        Ok(false)
    }

    /// Creates a Node by whatever means the backend supports (default: [`Datastore::create`]; Kubernetes,
    /// where Calico Nodes cannot be created, makes a core/v1 Node with `projectcalico.org/*` annotations).
    async fn seed_node(&self, node: &Node) -> Result<Revision, Error> {
        self.store().create(&Resource::Node(node.clone())).await
    }

    /// Removes a Node created by [`Harness::seed_node`] (default: [`Datastore::delete`]).
    async fn remove_node(&self, name: &str) -> Result<(), Error> {
        self.store().delete(Kind::Node, name, None).await
    }

    /// Longest wait for one expected watch event.
    fn event_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// Runs every check in order.
pub async fn run_all(h: &dyn Harness) -> Outcome {
    list_and_get(h).await?;
    cas_conflict(h).await?;
    watch_events(h).await?;
    watch_from_revision(h).await?;
    resync(h).await?;
    invalid_record(h).await?;
    Ok(())
}

macro_rules! ensure {
    ($check:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(ConformanceError { check: $check, message: format!($($fmt)+) });
        }
    };
}

fn fail(check: &'static str, message: impl Into<String>) -> ConformanceError {
    ConformanceError {
        check,
        message: message.into(),
    }
}

fn op<T>(check: &'static str, what: &str, r: Result<T, Error>) -> Result<T, ConformanceError> {
    r.map_err(|e| fail(check, format!("{what}: {e}")))
}

/// A sample Node.
pub fn sample_node(name: &str) -> Node {
    let mut n = Node::new(name);
    n.metadata.labels.insert("route-reflector".into(), "true".into());
    n.spec.bgp = Some(NodeBgpSpec {
        ipv4_address: "10.77.0.1/24".parse::<NodeAddress>().ok(),
        as_number: Some(AsNumber(64512)),
        route_reflector_cluster_id: Some(std::net::Ipv4Addr::new(244, 0, 0, 1)),
        ..NodeBgpSpec::default()
    });
    n
}

/// A sample BGPPeer.
pub fn sample_peer(name: &str, asn: u32) -> BgpPeer {
    let mut p = BgpPeer::new(name);
    p.metadata = Metadata::with_labels(name, [("purpose", "conformance")]);
    p.spec.node_selector = "all()".parse().ok();
    p.spec.peer_ip = "10.77.0.254:1790".parse().ok();
    p.spec.as_number = Some(AsNumber(asn));
    p.spec.keepalive_time = "30s".parse().ok();
    p
}

/// A sample BGPConfiguration.
pub fn sample_config(name: &str) -> BgpConfiguration {
    let mut c = BgpConfiguration::new(name);
    c.spec.node_to_node_mesh_enabled = Some(false);
    c.spec.listen_port = Some(1790);
    c
}

/// A sample IPPool.
pub fn sample_pool(name: &str) -> Option<IpPool> {
    Some(IpPool {
        metadata: Metadata::named(name),
        spec: IpPoolSpec::new("10.244.0.0/16".parse().ok()?),
    })
}

/// A sample BGPFilter using every field of the API (parsed from its manifest, so a parse error shows here).
pub fn sample_filter(name: &str) -> Result<BgpFilter, Error> {
    let yaml = format!(
        r#"
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {{name: {name}}}
spec:
  exportV4:
    - {{action: Reject, matchOperator: In, cidr: 10.77.0.0/16, prefixLength: {{min: 24, max: 26}},
       source: RemotePeers, peerType: iBGP}}
    - action: Accept
      communities: {{values: ["65000:100"]}}
      asPathPrefix: [64512, "1.10"]
      priority: 512
      operations:
        - addCommunity: {{value: "65000:1:2"}}
        - prependASPath: {{prefix: [65001, 65002]}}
        - setPriority: {{value: 100}}
  importV4:
    - {{action: Reject, matchOperator: NotEqual, cidr: 10.78.0.0/24, interface: "eth*"}}
  exportV6:
    - {{action: Accept, matchOperator: NotIn, cidr: "fd00::/8", prefixLength: {{max: 64}}, peerType: eBGP}}
  importV6:
    - {{action: Reject, matchOperator: Equal, cidr: "fd01::/64"}}
"#
    );
    match Resource::from_yaml(&yaml)? {
        Resource::BgpFilter(f) => Ok(*f),
        other => Err(Error::invalid(
            other.id(),
            "kind",
            other.kind().as_str(),
            "expected BGPFilter",
        )),
    }
}

/// Kind, name, labels and spec equality (ignores backend-added metadata).
pub fn same_resource(a: &Resource, b: &Resource) -> bool {
    let strip = |r: &Resource| {
        let mut v = r.to_value();
        if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.retain(|k, _| k == "name" || k == "labels");
        }
        v
    };
    a.kind() == b.kind() && strip(a) == strip(b)
}

async fn next_event(
    check: &'static str,
    h: &dyn Harness,
    w: &mut WatchStream,
) -> Result<WatchEvent, ConformanceError> {
    match tokio::time::timeout(h.event_timeout(), w.next()).await {
        Err(_) => Err(fail(check, "timed out waiting for a watch event")),
        Ok(None) => Err(fail(check, "watch stream ended")),
        Ok(Some(Err(e))) => Err(fail(check, format!("watch stream error: {e}"))),
        Ok(Some(Ok(ev))) => Ok(ev),
    }
}

/// Waits for an event satisfying `pred`, skipping others.
async fn wait_for(
    check: &'static str,
    h: &dyn Harness,
    w: &mut WatchStream,
    what: &str,
    mut pred: impl FnMut(&WatchEvent) -> bool,
) -> Result<WatchEvent, ConformanceError> {
    let deadline = tokio::time::Instant::now() + h.event_timeout() * 2;
    loop {
        ensure!(
            check,
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        let ev = next_event(check, h, w)
            .await
            .map_err(|e| fail(check, format!("{} ({what})", e.message)))?;
        if pred(&ev) {
            return Ok(ev);
        }
    }
}

fn find<'a>(
    resources: &'a [crate::store::Versioned<Resource>],
    kind: Kind,
    name: &str,
) -> Option<&'a crate::store::Versioned<Resource>> {
    resources
        .iter()
        .find(|v| v.value.kind() == kind && v.value.name() == name)
}

/// Creates one resource of each kind, then checks `list` and `get` return them with their revisions.
pub async fn list_and_get(h: &dyn Harness) -> Outcome {
    const C: &str = "list_and_get";
    let s = h.store();
    let mut made: Vec<(Resource, Revision)> = Vec::new();
    let n = sample_node("conf-list-node");
    let rev = op(C, "seed node", h.seed_node(&n).await)?;
    made.push((Resource::Node(n), rev));
    for r in [
        Resource::from(sample_peer("conf-list-peer", 65010)),
        Resource::from(sample_config("conf-list-config")),
    ] {
        let rev = op(C, &format!("create {}", r.id()), s.create(&r).await)?;
        made.push((r, rev));
    }
    if let Some(pool) = sample_pool("conf-list-pool") {
        let r = Resource::from(pool);
        let rev = op(C, "create pool", s.create(&r).await)?;
        made.push((r, rev));
    }
    let r = Resource::from(op(C, "sample filter", sample_filter("conf-list-filter"))?);
    let rev = op(C, "create filter", s.create(&r).await)?;
    made.push((r, rev));
    for (r, rev) in &made {
        let listing = op(C, &format!("list {}", r.kind()), s.list(r.kind()).await)?;
        let Some(found) = find(&listing.resources, r.kind(), r.name()) else {
            return Err(fail(C, format!("{} missing from list", r.id())));
        };
        ensure!(
            C,
            same_resource(&found.value, r),
            "list returned {:?}, wrote {:?}",
            found.value,
            r
        );
        ensure!(
            C,
            found.revision == *rev,
            "{} listed at revision {}, create returned {}",
            r.id(),
            found.revision,
            rev
        );
        ensure!(
            C,
            listing.revision >= *rev,
            "listing revision {} older than write {}",
            listing.revision,
            rev
        );
        ensure!(
            C,
            listing.resources.iter().all(|v| v.value.kind() == r.kind()),
            "list({}) returned other kinds",
            r.kind()
        );
        let got = op(C, &format!("get {}", r.id()), s.get(r.kind(), r.name()).await)?;
        ensure!(
            C,
            same_resource(&got.value, r),
            "get returned {:?}, wrote {:?}",
            got.value,
            r
        );
        ensure!(
            C,
            got.revision == *rev,
            "get revision {} != {}",
            got.revision,
            rev
        );
    }
    match s.get(Kind::BgpPeer, "conf-list-absent").await {
        Err(Error::NotFound { .. }) => {}
        other => return Err(fail(C, format!("get of a missing object returned {other:?}"))),
    }
    // Clean up.
    for (r, _) in made {
        if r.kind() == Kind::Node {
            op(C, "remove node", h.remove_node(r.name()).await)?;
        } else {
            op(
                C,
                &format!("delete {}", r.id()),
                s.delete(r.kind(), r.name(), None).await,
            )?;
        }
    }
    Ok(())
}

/// Compare-and-swap semantics of create, update and delete.
pub async fn cas_conflict(h: &dyn Harness) -> Outcome {
    const C: &str = "cas_conflict";
    let s = h.store();
    let p1 = Resource::from(sample_peer("conf-cas-peer", 65020));
    let r1 = op(C, "create", s.create(&p1).await)?;
    match s.create(&p1).await {
        Err(Error::AlreadyExists {
            kind: Kind::BgpPeer, ..
        }) => {}
        other => {
            return Err(fail(
                C,
                format!("second create returned {other:?}, want AlreadyExists"),
            ));
        }
    }
    let p2 = Resource::from(sample_peer("conf-cas-peer", 65021));
    let r2 = op(C, "update at current revision", s.update(&p2, r1).await)?;
    ensure!(C, r2 > r1, "update revision {r2} not after {r1}");
    let p3 = Resource::from(sample_peer("conf-cas-peer", 65022));
    match s.update(&p3, r1).await {
        Err(Error::Conflict { expected, actual, .. }) => {
            ensure!(
                C,
                expected == r1,
                "conflict reports expected {expected}, want {r1}"
            );
            ensure!(
                C,
                actual.is_none_or(|a| a == r2),
                "conflict reports actual {actual:?}, want {r2}"
            );
        }
        other => return Err(fail(C, format!("stale update returned {other:?}, want Conflict"))),
    }
    let got = op(
        C,
        "get after conflict",
        s.get(Kind::BgpPeer, "conf-cas-peer").await,
    )?;
    ensure!(
        C,
        same_resource(&got.value, &p2),
        "a conflicting update changed the object"
    );
    match s.delete(Kind::BgpPeer, "conf-cas-peer", Some(r1)).await {
        Err(Error::Conflict { .. }) => {}
        other => return Err(fail(C, format!("stale delete returned {other:?}, want Conflict"))),
    }
    op(
        C,
        "delete at current revision",
        s.delete(Kind::BgpPeer, "conf-cas-peer", Some(got.revision)).await,
    )?;
    match s.get(Kind::BgpPeer, "conf-cas-peer").await {
        Err(Error::NotFound { .. }) => {}
        other => return Err(fail(C, format!("get after delete returned {other:?}"))),
    }
    match s.update(&p3, r2).await {
        Err(Error::NotFound { .. } | Error::Conflict { .. }) => {}
        other => return Err(fail(C, format!("update of a deleted object returned {other:?}"))),
    }
    match s.delete(Kind::BgpPeer, "conf-cas-peer", None).await {
        Err(Error::NotFound { .. }) => {}
        other => return Err(fail(C, format!("delete of a missing object returned {other:?}"))),
    }
    Ok(())
}

/// `watch(None)` starts with a resync, then `Synced`, then create/update/delete events in order.
pub async fn watch_events(h: &dyn Harness) -> Outcome {
    const C: &str = "watch_events";
    let s = h.store();
    let pre = Resource::from(sample_peer("conf-watch-pre", 65030));
    op(C, "create pre-existing", s.create(&pre).await)?;
    let mut w = op(C, "watch", s.watch(None).await)?;
    let first = next_event(C, h, &mut w).await?;
    let WatchEvent::Resync { resources, .. } = first else {
        return Err(fail(C, format!("first event is {first:?}, want Resync")));
    };
    ensure!(
        C,
        find(&resources, Kind::BgpPeer, "conf-watch-pre").is_some(),
        "initial Resync lacks the existing peer"
    );
    wait_for(C, h, &mut w, "Status(Synced)", |e| {
        matches!(e, WatchEvent::Status(SyncStatus::Synced))
    })
    .await?;

    let p = Resource::from(sample_peer("conf-watch-peer", 65031));
    let r1 = op(C, "create", s.create(&p).await)?;
    let ev = wait_for(
        C,
        h,
        &mut w,
        "Applied(create)",
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "conf-watch-peer"),
    )
    .await?;
    if let WatchEvent::Applied(v) = ev {
        ensure!(
            C,
            same_resource(&v.value, &p),
            "created value differs: {:?}",
            v.value
        );
        ensure!(
            C,
            v.revision == r1,
            "event revision {} != create revision {}",
            v.revision,
            r1
        );
    }
    let p2 = Resource::from(sample_peer("conf-watch-peer", 65032));
    let r2 = op(C, "update", s.update(&p2, r1).await)?;
    let ev = wait_for(
        C,
        h,
        &mut w,
        "Applied(update)",
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "conf-watch-peer"),
    )
    .await?;
    if let WatchEvent::Applied(v) = ev {
        ensure!(
            C,
            same_resource(&v.value, &p2),
            "updated value differs: {:?}",
            v.value
        );
        ensure!(
            C,
            v.revision == r2,
            "event revision {} != update revision {}",
            v.revision,
            r2
        );
    }
    op(
        C,
        "delete",
        s.delete(Kind::BgpPeer, "conf-watch-peer", None).await,
    )?;
    wait_for(
        C,
        h,
        &mut w,
        "Deleted",
        |e| matches!(e, WatchEvent::Deleted { kind: Kind::BgpPeer, name, .. } if name == "conf-watch-peer"),
    )
    .await?;
    op(
        C,
        "cleanup",
        s.delete(Kind::BgpPeer, "conf-watch-pre", None).await,
    )?;
    wait_for(
        C,
        h,
        &mut w,
        "Deleted(pre)",
        |e| matches!(e, WatchEvent::Deleted { name, .. } if name == "conf-watch-pre"),
    )
    .await?;
    Ok(())
}

/// A watch from a listing's revision sees exactly the later changes.
pub async fn watch_from_revision(h: &dyn Harness) -> Outcome {
    const C: &str = "watch_from_revision";
    let s = h.store();
    let listing = op(C, "list", s.list(Kind::BgpPeer).await)?;
    let p = Resource::from(sample_peer("conf-from-peer", 65040));
    let r = op(C, "create", s.create(&p).await)?;
    let mut w = op(C, "watch", s.watch(Some(listing.revision)).await)?;
    let ev = wait_for(C, h, &mut w, "the change after the listing", |e| match e {
        WatchEvent::Applied(v) => v.value.name() == "conf-from-peer",
        WatchEvent::Resync { resources, .. } => find(resources, Kind::BgpPeer, "conf-from-peer").is_some(),
        _ => false,
    })
    .await?;
    if let WatchEvent::Applied(v) = &ev {
        ensure!(C, v.revision == r, "replayed revision {} != {}", v.revision, r);
    }
    op(
        C,
        "cleanup",
        s.delete(Kind::BgpPeer, "conf-from-peer", None).await,
    )?;
    Ok(())
}

/// After history is lost, a watch from an old revision resyncs with the current state.
pub async fn resync(h: &dyn Harness) -> Outcome {
    const C: &str = "resync";
    let s = h.store();
    let old = op(C, "list", s.list(Kind::BgpPeer).await)?.revision;
    let a = Resource::from(sample_peer("conf-resync-a", 65050));
    op(C, "create a", s.create(&a).await)?;
    let b = Resource::from(sample_peer("conf-resync-b", 65051));
    op(C, "create b", s.create(&b).await)?;
    op(
        C,
        "delete a",
        s.delete(Kind::BgpPeer, "conf-resync-a", None).await,
    )?;
    if !op(C, "force resync", h.force_resync().await)? {
        tracing::info!("harness cannot force a resync; check skipped");
        op(C, "cleanup", s.delete(Kind::BgpPeer, "conf-resync-b", None).await)?;
        return Ok(());
    }
    let mut w = op(C, "watch from an old revision", s.watch(Some(old)).await)?;
    let ev = wait_for(C, h, &mut w, "Resync", |e| matches!(e, WatchEvent::Resync { .. })).await?;
    if let WatchEvent::Resync { resources, .. } = ev {
        ensure!(
            C,
            find(&resources, Kind::BgpPeer, "conf-resync-b").is_some(),
            "resync lacks the live object"
        );
        ensure!(
            C,
            find(&resources, Kind::BgpPeer, "conf-resync-a").is_none(),
            "resync holds a deleted object"
        );
    }
    wait_for(C, h, &mut w, "Status(Synced)", |e| {
        matches!(e, WatchEvent::Status(SyncStatus::Synced))
    })
    .await?;
    let c = Resource::from(sample_peer("conf-resync-c", 65052));
    op(C, "create c", s.create(&c).await)?;
    wait_for(
        C,
        h,
        &mut w,
        "Applied after resync",
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "conf-resync-c"),
    )
    .await?;
    op(
        C,
        "cleanup b",
        s.delete(Kind::BgpPeer, "conf-resync-b", None).await,
    )?;
    op(
        C,
        "cleanup c",
        s.delete(Kind::BgpPeer, "conf-resync-c", None).await,
    )?;
    Ok(())
}

/// A record that does not parse is reported (list and watch) and skipped; valid ones are unaffected.
pub async fn invalid_record(h: &dyn Harness) -> Outcome {
    const C: &str = "invalid_record";
    let s = h.store();
    let good = Resource::from(sample_peer("conf-invalid-good", 65060));
    op(C, "create good", s.create(&good).await)?;
    let mut w = op(C, "watch", s.watch(None).await)?;
    wait_for(C, h, &mut w, "Status(Synced)", |e| {
        matches!(e, WatchEvent::Status(SyncStatus::Synced))
    })
    .await?;
    op(
        C,
        "write invalid",
        h.write_invalid(Kind::BgpPeer, "conf-invalid-bad").await,
    )?;
    let ev = wait_for(C, h, &mut w, "Invalid", |e| matches!(e, WatchEvent::Invalid(_))).await?;
    if let WatchEvent::Invalid(rec) = &ev {
        ensure!(
            C,
            rec.kind.is_none_or(|k| k == Kind::BgpPeer),
            "invalid record has kind {:?}",
            rec.kind
        );
        ensure!(
            C,
            rec.name.as_deref().is_none_or(|n| n == "conf-invalid-bad"),
            "invalid record names {:?}",
            rec.name
        );
        ensure!(C, !rec.source.is_empty(), "invalid record has no source");
    }
    let listing = op(C, "list", s.list(Kind::BgpPeer).await)?;
    ensure!(
        C,
        find(&listing.resources, Kind::BgpPeer, "conf-invalid-bad").is_none(),
        "the invalid record was listed"
    );
    ensure!(
        C,
        find(&listing.resources, Kind::BgpPeer, "conf-invalid-good").is_some(),
        "a valid record vanished"
    );
    ensure!(
        C,
        listing
            .invalid
            .iter()
            .any(|r| r.name.as_deref().is_none_or(|n| n == "conf-invalid-bad")),
        "list does not report the invalid record: {:?}",
        listing.invalid
    );
    // A valid write after the invalid record is still delivered.
    let after = Resource::from(sample_peer("conf-invalid-after", 65061));
    op(C, "create after", s.create(&after).await)?;
    wait_for(
        C,
        h,
        &mut w,
        "Applied after invalid",
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "conf-invalid-after"),
    )
    .await?;
    op(
        C,
        "remove invalid",
        h.remove_invalid(Kind::BgpPeer, "conf-invalid-bad").await,
    )?;
    op(
        C,
        "cleanup good",
        s.delete(Kind::BgpPeer, "conf-invalid-good", None).await,
    )?;
    op(
        C,
        "cleanup after",
        s.delete(Kind::BgpPeer, "conf-invalid-after", None).await,
    )?;
    Ok(())
}

/// The [`Harness`] for [`FileDatastore`]: invalid records are appended to the file as a document.
#[derive(Debug)]
pub struct FileHarness {
    store: FileDatastore,
}

impl FileHarness {
    /// Opens a file store at `path` (which should not exist yet) with a short poll interval. The file is
    /// created as an explicitly empty datastore ([`crate::file::EXPLICIT_EMPTY`]): a missing file is reported
    /// unavailable, not empty.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        std::fs::write(&path, crate::file::EXPLICIT_EMPTY)
            .map_err(|e| Error::Unavailable(format!("writing {}: {e}", path.display())))?;
        Ok(FileHarness {
            store: FileDatastore::open_with_poll(path, Duration::from_millis(200))?,
        })
    }

    /// The store.
    pub fn file_store(&self) -> &FileDatastore {
        &self.store
    }

    fn edit(&self, f: impl FnOnce(String) -> String) -> Result<(), Error> {
        let path = self.store.path();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::Unavailable(e.to_string())),
        };
        std::fs::write(path, f(text)).map_err(|e| Error::Unavailable(e.to_string()))?;
        self.store.reload().map(|_| ())
    }
}

#[async_trait]
impl Harness for FileHarness {
    fn store(&self) -> &dyn Datastore {
        &self.store
    }

    async fn write_invalid(&self, kind: Kind, name: &str) -> Result<(), Error> {
        let doc = format!(
            "---\n# conformance-invalid {name}\napiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  peerIP: not-an-ip\n  asNumber: 65000\n"
        );
        self.edit(|t| t + &doc)
    }

    async fn remove_invalid(&self, _kind: Kind, name: &str) -> Result<(), Error> {
        let marker = format!("---\n# conformance-invalid {name}\n");
        self.edit(|t| match t.find(&marker) {
            Some(start) => {
                let rest = &t[start + marker.len()..];
                let end = rest.find("---\n").map_or(t.len(), |i| start + marker.len() + i);
                format!("{}{}", &t[..start], &t[end..])
            }
            None => t,
        })
    }

    async fn force_resync(&self) -> Result<bool, Error> {
        self.store.compact_history();
        Ok(true)
    }
}
