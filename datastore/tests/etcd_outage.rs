//! Outages as the daemon sees them through the [`Datastore`] trait: `Status(Unavailable)` while etcd is
//! unreachable, `Status(Synced)` when it is back, no resync and no lost event across a restart, and a
//! backend started while etcd is down.

mod etcd_support;

use std::time::Duration;

use datastore::etcd::EtcdBackend;
use datastore::{Datastore, Kind, SyncStatus, WatchEvent, WatchStream};
use etcd_support::EtcdServer;
use futures::StreamExt;

const PEERS: &str = "/calico/resources/v3/projectcalico.org/bgppeers/";

fn peer(name: &str) -> String {
    format!(
        r#"{{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{{"peerIP":"10.1.1.1","asNumber":64512}}}}"#
    )
}

async fn next(w: &mut WatchStream, secs: u64, what: &str) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(secs), w.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch error while waiting for {what}: {e}"),
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("no event within {secs} s while waiting for {what}"),
    }
}

#[tokio::test]
async fn outage_reports_unavailable_then_synced_without_resync() {
    let mut etcd = EtcdServer::start();
    etcd.put(&format!("{PEERS}a"), &peer("a"));
    let store = EtcdBackend::new(etcd.config()).expect("config");
    let mut w = store.watch(None).await.expect("watch");
    assert!(matches!(
        next(&mut w, 10, "resync").await,
        WatchEvent::Resync { .. }
    ));
    assert_eq!(
        next(&mut w, 5, "synced").await,
        WatchEvent::Status(SyncStatus::Synced)
    );

    etcd.stop();
    match next(&mut w, 10, "unavailable").await {
        WatchEvent::Status(SyncStatus::Unavailable(why)) => assert!(!why.is_empty()),
        other => panic!("expected Status(Unavailable), got {other:?}"),
    }
    // Reads fail as Unavailable while it is down.
    match store.list(Kind::BgpPeer).await {
        Err(e) => assert!(e.is_transient(), "{e}"),
        Ok(l) => panic!("list cannot succeed with etcd down: {l:?}"),
    }
    // Down for a while: no further status noise, however many retries.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), w.next())
            .await
            .is_err(),
        "one Unavailable per outage"
    );
    etcd.restart();
    assert_eq!(
        next(&mut w, 15, "synced again").await,
        WatchEvent::Status(SyncStatus::Synced)
    );
    let rev = etcd.put(&format!("{PEERS}b"), &peer("b"));
    match next(&mut w, 5, "the write after the outage").await {
        WatchEvent::Applied(v) => {
            assert_eq!(v.value.name(), "b");
            assert_eq!(v.revision.0, u64::try_from(rev).expect("positive"));
        }
        other => panic!("expected Applied (no resync after a plain restart), got {other:?}"),
    }
}

#[tokio::test]
async fn backend_started_while_etcd_is_down() {
    let mut etcd = EtcdServer::start();
    etcd.put(&format!("{PEERS}a"), &peer("a"));
    etcd.stop();
    // No I/O at construction: the daemon starts during an outage.
    let store = EtcdBackend::new(etcd.config()).expect("config");
    let mut w = store.watch(None).await.expect("watch");
    match next(&mut w, 10, "unavailable").await {
        WatchEvent::Status(SyncStatus::Unavailable(why)) => {
            assert!(why.contains("127.0.0.1"), "names the endpoint: {why}");
        }
        other => panic!("expected Status(Unavailable), got {other:?}"),
    }
    etcd.restart();
    match next(&mut w, 15, "resync").await {
        WatchEvent::Resync { resources, .. } => {
            assert_eq!(resources.len(), 1);
            assert_eq!(resources[0].value.name(), "a");
        }
        other => panic!("expected Resync, got {other:?}"),
    }
    assert_eq!(
        next(&mut w, 5, "synced").await,
        WatchEvent::Status(SyncStatus::Synced)
    );
}

/// A watch from a revision in the future waits for it instead of failing.
#[tokio::test]
async fn watch_from_a_future_revision_waits() {
    let etcd = EtcdServer::start();
    let store = EtcdBackend::connect(etcd.config()).await.expect("connect");
    let now = store.probe().await.expect("probe");
    let from = u64::try_from(now + 2).expect("positive");
    let mut w = store.watch(Some(datastore::Revision(from))).await.expect("watch");
    assert_eq!(
        next(&mut w, 5, "synced").await,
        WatchEvent::Status(SyncStatus::Synced)
    );
    etcd.put(&format!("{PEERS}skipped1"), &peer("skipped1"));
    etcd.put(&format!("{PEERS}skipped2"), &peer("skipped2"));
    etcd.put(&format!("{PEERS}seen"), &peer("seen"));
    match next(&mut w, 5, "the first write after the revision").await {
        WatchEvent::Applied(v) => assert_eq!(v.value.name(), "seen"),
        other => panic!("expected Applied(seen), got {other:?}"),
    }
}

/// etcd frozen (SIGSTOP: connections stay open, nothing answers): HTTP/2 keep-alive pings notice it, the
/// outage is reported, and the watch resumes when etcd thaws.
#[tokio::test]
async fn silent_etcd_is_detected_by_keepalive() {
    let etcd = EtcdServer::start();
    let store = EtcdBackend::new(etcd.config()).expect("config");
    let mut w = store.watch(None).await.expect("watch");
    assert!(matches!(
        next(&mut w, 10, "resync").await,
        WatchEvent::Resync { .. }
    ));
    assert_eq!(
        next(&mut w, 5, "synced").await,
        WatchEvent::Status(SyncStatus::Synced)
    );

    // The watchers exist once a write comes through.
    etcd.put(&format!("{PEERS}before"), &peer("before"));
    assert!(matches!(next(&mut w, 5, "a write").await, WatchEvent::Applied(_)));

    etcd.signal("STOP");
    let frozen = std::time::Instant::now();
    match next(&mut w, 40, "unavailable").await {
        WatchEvent::Status(SyncStatus::Unavailable(why)) => {
            eprintln!("frozen etcd noticed after {:?}: {why}", frozen.elapsed());
        }
        other => panic!("expected Status(Unavailable), got {other:?}"),
    }
    etcd.signal("CONT");
    assert_eq!(
        next(&mut w, 30, "synced again").await,
        WatchEvent::Status(SyncStatus::Synced)
    );
    etcd.put(&format!("{PEERS}after"), &peer("after"));
    match next(&mut w, 5, "the write after the thaw").await {
        WatchEvent::Applied(v) => assert_eq!(v.value.name(), "after"),
        other => panic!("expected Applied, got {other:?}"),
    }
}

/// Issue 14 item 2: a relist that comes back empty after the store held resources (here: every key deleted
/// and the history compacted while the reflector was cut off) is not applied by [`snapshot::follow`]: the
/// last good state stays published, marked unsynced with the reason, until the store has data again.
#[tokio::test]
async fn empty_relist_after_data_keeps_the_last_good_state() {
    use datastore::snapshot::spawn_follower;
    use std::sync::Arc;

    let mut etcd = EtcdServer::start();
    etcd.put(&format!("{PEERS}a"), &peer("a"));
    etcd.put(&format!("{PEERS}b"), &peer("b"));
    let store: Arc<dyn Datastore> = Arc::new(EtcdBackend::new(etcd.config()).expect("config"));
    let mut rx = spawn_follower(store);
    let wait = |rx: &mut tokio::sync::watch::Receiver<Arc<datastore::Snapshot>>,
                what: &'static str,
                f: fn(&datastore::Snapshot) -> bool| {
        let mut rx = rx.clone();
        let last = rx.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| f(s)))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", last.borrow()))
                .expect("follower alive")
                .clone()
        }
    };
    wait(&mut rx, "two peers, synced", |s| s.synced && s.peers.len() == 2).await;

    // Cut the reflector off, wipe the store and compact its history, bring it back.
    let port = etcd.restart_elsewhere();
    etcd.del_on(port, &format!("{PEERS}a"));
    etcd.del_on(port, &format!("{PEERS}b"));
    let rev = etcd.revision_on(port);
    etcd.ctl_ok_on(port, &["compact", &rev.to_string()]);
    etcd.restart();

    let held = wait(&mut rx, "the empty relist reported", |s| {
        s.unavailable
            .as_deref()
            .is_some_and(|u| u.contains("came back empty"))
    })
    .await;
    assert!(!held.synced);
    assert_eq!(
        held.peers.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "the last good state is kept"
    );

    // Data again: the store's state (only c) applies.
    etcd.put(&format!("{PEERS}c"), &peer("c"));
    let after = wait(&mut rx, "c alone, synced", |s| {
        s.synced && s.peers.len() == 1 && s.peers.contains_key("c")
    })
    .await;
    assert!(after.unavailable.is_none(), "{:?}", after.unavailable);
}
