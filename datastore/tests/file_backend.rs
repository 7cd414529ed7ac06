//! The file backend: conformance battery, reload on change, invalid edits, writes.

use std::path::Path;
use std::time::Duration;

use datastore::conformance::{self, FileHarness};
use datastore::store::{SyncStatus, WatchEvent};
use datastore::{Datastore, Error, FileDatastore, Kind, Resource, Snapshot};
use futures::StreamExt;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reflector-setup.yaml");

async fn next(w: &mut datastore::WatchStream) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("timed out waiting for a watch event")
        .expect("stream ended")
        .expect("stream error")
}

async fn wait_for(w: &mut datastore::WatchStream, mut pred: impl FnMut(&WatchEvent) -> bool) -> WatchEvent {
    loop {
        let ev = next(w).await;
        if pred(&ev) {
            return ev;
        }
    }
}

fn write(path: &Path, text: &str) {
    // Write through a rename, like editors do.
    let tmp = path.with_extension("tmp-edit");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn file_backend_passes_the_conformance_battery() {
    let dir = tempfile::tempdir().unwrap();
    let h = FileHarness::new(dir.path().join("calico.yaml")).unwrap();
    conformance::run_all(&h).await.unwrap();
}

#[tokio::test]
async fn loads_the_documented_reflector_setup() {
    let store = FileDatastore::open(FIXTURE).unwrap();
    let nodes = store.list(Kind::Node).await.unwrap();
    let names: Vec<&str> = nodes.resources.iter().map(|v| v.value.name()).collect();
    assert_eq!(names, ["node-1", "node-2", "node-3", "rr-1", "rr-2"]);
    assert!(nodes.invalid.is_empty(), "{:?}", nodes.invalid);
    assert_eq!(store.list(Kind::BgpPeer).await.unwrap().resources.len(), 1);
    assert_eq!(
        store.list(Kind::BgpConfiguration).await.unwrap().resources.len(),
        1
    );
    assert_eq!(store.list(Kind::IpPool).await.unwrap().resources.len(), 1);
}

#[tokio::test]
async fn missing_file_is_reported_and_first_write_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.yaml");
    let store = FileDatastore::open(&path).unwrap();
    assert!(store.list(Kind::Node).await.unwrap().resources.is_empty());
    let mut w = store.watch(None).await.unwrap();
    assert!(matches!(next(&mut w).await, WatchEvent::Resync { resources, .. } if resources.is_empty()));
    match next(&mut w).await {
        WatchEvent::Status(SyncStatus::Unavailable(why)) => {
            assert!(why.contains("new.yaml is missing"), "{why}")
        }
        other => panic!("a missing file is not an empty datastore: {other:?}"),
    }
    let peer = conformance::sample_peer("p", 65001);
    store.create(&Resource::from(peer.clone())).await.unwrap();
    assert!(matches!(next(&mut w).await, WatchEvent::Applied(_)));
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("kind: BGPPeer") && text.contains("apiVersion: projectcalico.org/v3"),
        "{text}"
    );
    // Another process opening the file sees the same object.
    let other = FileDatastore::open(&path).unwrap();
    let got = other.get(Kind::BgpPeer, "p").await.unwrap();
    assert_eq!(got.value, Resource::from(peer));
}

#[tokio::test]
async fn external_edit_is_picked_up_by_the_watch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    write(&path, &std::fs::read_to_string(FIXTURE).unwrap());
    let store = FileDatastore::open_with_poll(&path, Duration::from_secs(3600)).unwrap();
    let mut w = store.watch(None).await.unwrap();
    assert!(matches!(next(&mut w).await, WatchEvent::Resync { resources, .. } if resources.len() == 8));
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));
    // With a one-hour poll, only the notify watch can deliver this in time.
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("10.0.0.13/24", "10.0.0.99/24");
    write(&path, &edited);
    let ev = wait_for(&mut w, |e| matches!(e, WatchEvent::Applied(_))).await;
    let WatchEvent::Applied(v) = ev else {
        unreachable!()
    };
    let Resource::Node(n) = &v.value else {
        panic!("{v:?}")
    };
    assert_eq!(n.name(), "node-3");
    assert_eq!(n.ipv4().unwrap().to_string(), "10.0.0.99");
    // Removing a document deletes the object.
    let without = edited.replace("  name: default-ipv4-ippool", "  name: renamed-pool");
    write(&path, &without);
    let mut seen_delete = false;
    let mut seen_add = false;
    while !(seen_delete && seen_add) {
        match next(&mut w).await {
            WatchEvent::Deleted {
                kind: Kind::IpPool,
                name,
                ..
            } if name == "default-ipv4-ippool" => seen_delete = true,
            WatchEvent::Applied(v) if v.value.name() == "renamed-pool" => seen_add = true,
            _ => {}
        }
    }
}

#[tokio::test]
async fn poll_fallback_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    write(&path, datastore::file::EXPLICIT_EMPTY);
    let store = FileDatastore::open_with_poll(&path, Duration::from_millis(100)).unwrap();
    let mut w = store.watch(None).await.unwrap();
    wait_for(&mut w, |e| matches!(e, WatchEvent::Status(SyncStatus::Synced))).await;
    // Write in place (no rename) so the poll or the watch may see it; either must deliver.
    std::fs::write(&path, "kind: BGPPeer\napiVersion: projectcalico.org/v3\nmetadata: {name: x}\nspec: {peerIP: 10.1.1.1, asNumber: 65000}\n").unwrap();
    let ev = wait_for(&mut w, |e| matches!(e, WatchEvent::Applied(_))).await;
    assert!(matches!(ev, WatchEvent::Applied(v) if v.value.name() == "x"));
}

#[tokio::test]
async fn invalid_edit_is_reported_and_last_good_state_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    let good = std::fs::read_to_string(FIXTURE).unwrap();
    write(&path, &good);
    let store = FileDatastore::open_with_poll(&path, Duration::from_secs(3600)).unwrap();
    let before = store.get(Kind::Node, "rr-2").await.unwrap();
    let mut w = store.watch(None).await.unwrap();
    wait_for(&mut w, |e| matches!(e, WatchEvent::Status(SyncStatus::Synced))).await;

    // rr-2 gets a bad cluster id (in the List, the third document) and node-1 a new address.
    let bad = good
        .replace(
            "ipv4Address: 10.0.0.2/24\n        routeReflectorClusterID: 244.0.0.1",
            "ipv4Address: 10.0.0.2/24\n        routeReflectorClusterID: banana",
        )
        .replace("10.0.0.11/24", "10.0.0.111/24");
    write(&path, &bad);
    store.reload().unwrap();
    let ev = wait_for(&mut w, |e| matches!(e, WatchEvent::Invalid(_))).await;
    let WatchEvent::Invalid(rec) = ev else {
        unreachable!()
    };
    assert_eq!(rec.kind, Some(Kind::Node));
    assert_eq!(rec.name.as_deref(), Some("rr-2"));
    assert!(rec.source.ends_with("calico.yaml#3.items[1]"), "{}", rec.source);
    match &rec.error {
        Error::Invalid {
            resource,
            field,
            value,
            ..
        } => {
            assert_eq!(resource, "Node/rr-2");
            assert_eq!(field, "spec.bgp.routeReflectorClusterID");
            assert_eq!(value, "\"banana\"");
        }
        other => panic!("{other:?}"),
    }
    // The valid change applies; rr-2 keeps its last good version.
    let ev = wait_for(&mut w, |e| matches!(e, WatchEvent::Applied(_))).await;
    assert!(matches!(ev, WatchEvent::Applied(v) if v.value.name() == "node-1"));
    assert_eq!(store.get(Kind::Node, "rr-2").await.unwrap().value, before.value);
    let listing = store.list(Kind::Node).await.unwrap();
    assert_eq!(listing.invalid.len(), 1);

    // A YAML syntax error rejects the whole edit.
    let broken = bad
        .replace("kind: IPPool", "kind: IPPool\n  : : [")
        .replace("10.0.0.12/24", "10.0.0.122/24");
    write(&path, &broken);
    store.reload().unwrap();
    // rr-2 is reported again (documents before the syntax error are still read), then the syntax error.
    let ev = wait_for(
        &mut w,
        |e| matches!(e, WatchEvent::Invalid(r) if r.kind.is_none()),
    )
    .await;
    let WatchEvent::Invalid(rec) = ev else {
        unreachable!()
    };
    assert_eq!(rec.kind, None);
    assert!(rec.source.contains("calico.yaml#"), "{}", rec.source);
    let n2 = store.get(Kind::Node, "node-2").await.unwrap();
    assert_eq!(n2.value.to_value()["spec"]["bgp"]["ipv4Address"], "10.0.0.12/24");

    // Fixing the file applies everything.
    write(&path, &good.replace("10.0.0.12/24", "10.0.0.122/24"));
    store.reload().unwrap();
    let ev = wait_for(
        &mut w,
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "node-2"),
    )
    .await;
    assert!(matches!(ev, WatchEvent::Applied(_)));
    assert!(store.list(Kind::Node).await.unwrap().invalid.is_empty());
}

#[tokio::test]
async fn duplicate_documents_keep_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.yaml");
    let doc = |asn: u32| {
        format!(
            "---\nkind: BGPPeer\napiVersion: projectcalico.org/v3\nmetadata: {{name: dup}}\nspec: {{peerIP: 10.1.1.1, asNumber: {asn}}}\n"
        )
    };
    write(&path, &(doc(65001) + &doc(65002)));
    let store = FileDatastore::open(&path).unwrap();
    let got = store.get(Kind::BgpPeer, "dup").await.unwrap();
    assert_eq!(got.value.to_value()["spec"]["asNumber"], 65001);
    let listing = store.list(Kind::BgpPeer).await.unwrap();
    assert_eq!(listing.invalid.len(), 1);
    assert!(listing.invalid[0].source.ends_with("dup.yaml#2"));
}

#[tokio::test]
async fn follower_maintains_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    write(&path, &std::fs::read_to_string(FIXTURE).unwrap());
    let store = FileDatastore::open_with_poll(&path, Duration::from_millis(100)).unwrap();
    let mut rx = datastore::snapshot::spawn_follower(std::sync::Arc::new(store.clone()));
    let snap: std::sync::Arc<Snapshot> = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if rx.borrow().synced && rx.borrow().nodes.len() == 5 {
                return rx.borrow().clone();
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(snap.peers.len(), 1);
    assert!(snap.global_config().is_some());
    store.delete(Kind::Node, "node-1", None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            rx.changed().await.unwrap();
            if !rx.borrow().nodes.contains_key("node-1") {
                return;
            }
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unreadable_file_reports_unavailable_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    write(&path, &std::fs::read_to_string(FIXTURE).unwrap());
    let store = FileDatastore::open_with_poll(&path, Duration::from_secs(3600)).unwrap();
    let mut w = store.watch(None).await.unwrap();
    wait_for(&mut w, |e| matches!(e, WatchEvent::Status(SyncStatus::Synced))).await;
    // A directory in the file's place cannot be read (even as root).
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    store.reload().unwrap();
    wait_for(&mut w, |e| {
        matches!(e, WatchEvent::Status(SyncStatus::Unavailable(_)))
    })
    .await;
    assert_eq!(
        store.list(Kind::Node).await.unwrap().resources.len(),
        5,
        "the last good state holds"
    );
    std::fs::remove_dir(&path).unwrap();
    write(
        &path,
        &std::fs::read_to_string(FIXTURE)
            .unwrap()
            .replace("10.0.0.11/24", "10.0.0.77/24"),
    );
    store.reload().unwrap();
    // The change comes first, then Synced.
    let ev = wait_for(&mut w, |e| {
        !matches!(e, WatchEvent::Status(SyncStatus::Unavailable(_)))
    })
    .await;
    assert!(
        matches!(&ev, WatchEvent::Applied(v) if v.value.name() == "node-1"),
        "{ev:?}"
    );
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));
}

/// Issue 14 item 2: deleting or truncating the file (or leaving only comments in it) is reported as such and
/// keeps the last good state; the file's return applies; an explicit empty `List` empties the datastore, and
/// deleting the last object through the store writes exactly that.
#[tokio::test]
async fn missing_or_empty_file_keeps_the_last_good_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    let good = std::fs::read_to_string(FIXTURE).unwrap();
    write(&path, &good);
    // Polling only (a one-hour poll and explicit reloads), so that every step is deterministic.
    let store = FileDatastore::open_with_poll(&path, Duration::from_secs(3600)).unwrap();
    let mut w = store.watch(None).await.unwrap();
    wait_for(&mut w, |e| matches!(e, WatchEvent::Status(SyncStatus::Synced))).await;
    let unavailable = |e: &WatchEvent| match e {
        WatchEvent::Status(SyncStatus::Unavailable(why)) => Some(why.clone()),
        WatchEvent::Deleted { .. } => panic!("an object was deleted: {e:?}"),
        _ => None,
    };
    for (what, text) in [
        ("missing", None),
        ("empty", Some("")),
        ("empty", Some("# nothing here\n---\n")),
    ] {
        match text {
            None => std::fs::remove_file(&path).unwrap(),
            Some(t) => std::fs::write(&path, t).unwrap(),
        }
        store.reload().unwrap();
        let why = loop {
            if let Some(why) = unavailable(&next(&mut w).await) {
                break why;
            }
        };
        assert!(why.contains(&format!("calico.yaml is {what}")), "{why}");
        assert_eq!(store.list(Kind::Node).await.unwrap().resources.len(), 5, "{what}");
        write(&path, &good);
        store.reload().unwrap();
        assert_eq!(
            next(&mut w).await,
            WatchEvent::Status(SyncStatus::Synced),
            "{what}"
        );
    }
    // An explicitly empty datastore is applied.
    write(&path, datastore::file::EXPLICIT_EMPTY);
    store.reload().unwrap();
    let mut deleted = 0;
    while deleted < 8 {
        if let WatchEvent::Deleted { .. } = next(&mut w).await {
            deleted += 1;
        }
    }
    assert!(store.list(Kind::Node).await.unwrap().resources.is_empty());
    // Deleting the last object through the store writes the explicit form, not an empty file.
    let peer = conformance::sample_peer("p", 65001);
    store.create(&Resource::from(peer)).await.unwrap();
    store.delete(Kind::BgpPeer, "p", None).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        datastore::file::EXPLICIT_EMPTY
    );
}
