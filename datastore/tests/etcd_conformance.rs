//! The shared backend conformance battery, and invalid records, against a real etcd through the
//! [`Datastore`] trait.

mod etcd_support;

use std::time::Duration;

use async_trait::async_trait;
use datastore::conformance::{self, Harness};
use datastore::etcd::EtcdBackend;
use datastore::{Datastore, Error, Kind, Resource, SyncStatus, WatchEvent, WatchStream};
use etcd_support::EtcdServer;
use futures::StreamExt;

struct EtcdHarness {
    etcd: EtcdServer,
    store: EtcdBackend,
}

impl EtcdHarness {
    async fn new() -> Self {
        let etcd = EtcdServer::start();
        let store = EtcdBackend::connect(etcd.config()).await.expect("connect");
        EtcdHarness { etcd, store }
    }
}

#[async_trait]
impl Harness for EtcdHarness {
    fn store(&self) -> &dyn Datastore {
        &self.store
    }

    async fn write_invalid(&self, kind: Kind, name: &str) -> Result<(), Error> {
        // Bytes that are not JSON, written around the backend's validation.
        self.store
            .create_raw(kind, name, b"{\"kind\": \"BGPPeer\", oops".to_vec())
            .await
            .map(|_| ())
            .map_err(|e| Error::Backend(e.to_string()))
    }

    async fn remove_invalid(&self, kind: Kind, name: &str) -> Result<(), Error> {
        self.store.delete(kind, name, None).await
    }

    async fn force_resync(&self) -> Result<bool, Error> {
        let mut client = etcd_client::Client::connect([self.etcd.endpoint()], None)
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        let rev = self
            .store
            .probe()
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        client
            .compact(rev, Some(etcd_client::CompactionOptions::new().with_physical()))
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        Ok(true)
    }
}

#[tokio::test]
async fn conformance_battery() {
    let h = EtcdHarness::new().await;
    conformance::run_all(&h).await.expect("etcd backend conformance");
}

async fn next(w: &mut WatchStream, what: &str) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch error while waiting for {what}: {e}"),
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("no event within 10 s while waiting for {what}"),
    }
}

const PEERS: &str = "/calico/resources/v3/projectcalico.org/bgppeers/";
const NODES: &str = "/calico/resources/v3/projectcalico.org/nodes/";

/// A record written with `etcdctl put` that is not JSON (or not a valid resource) is reported with its key
/// and reason, in the initial resync and live, and skipped; everything else keeps working.
#[tokio::test]
async fn invalid_records_from_etcdctl_are_reported_and_skipped() {
    let h = EtcdHarness::new().await;
    let etcd = &h.etcd;
    etcd.put(&format!("{PEERS}broken-at-start"), "this is not json");
    etcd.put(
        &format!("{NODES}rr1"),
        r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"rr1","labels":{"route-reflector":"true"}},"spec":{"bgp":{"ipv4Address":"10.0.0.1/24","routeReflectorClusterID":"244.0.0.1"}}}"#,
    );

    // list() reports it beside the valid ones.
    let listing = h.store.list(Kind::BgpPeer).await.expect("list");
    assert!(listing.resources.is_empty());
    assert_eq!(listing.invalid.len(), 1, "{:?}", listing.invalid);
    assert_eq!(listing.invalid[0].source, format!("{PEERS}broken-at-start"));
    assert_eq!(listing.invalid[0].name.as_deref(), Some("broken-at-start"));
    // get() says why.
    match h.store.get(Kind::BgpPeer, "broken-at-start").await {
        Err(Error::Invalid { reason, .. }) => assert!(reason.contains("not JSON"), "{reason}"),
        other => panic!("get of a broken record must be Invalid, got {other:?}"),
    }

    let mut w = h.store.watch(None).await.expect("watch");
    match next(&mut w, "the resync").await {
        WatchEvent::Resync { resources, .. } => {
            assert_eq!(resources.len(), 1, "only the valid node: {resources:?}");
            assert_eq!(resources[0].value.name(), "rr1");
        }
        other => panic!("expected Resync, got {other:?}"),
    }
    match next(&mut w, "the invalid record after the resync").await {
        WatchEvent::Invalid(rec) => {
            assert_eq!(rec.source, format!("{PEERS}broken-at-start"));
            assert_eq!(rec.kind, Some(Kind::BgpPeer));
            assert!(rec.to_string().contains("not JSON"), "{rec}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        next(&mut w, "Synced").await,
        WatchEvent::Status(SyncStatus::Synced)
    );

    // Live: a broken edit of a good resource, then a valid write of another.
    etcd.put(&format!("{NODES}rr1"), "{\"kind\":\"Node\",");
    match next(&mut w, "the live invalid record").await {
        WatchEvent::Invalid(rec) => {
            assert_eq!(rec.source, format!("{NODES}rr1"));
            assert_eq!(rec.name.as_deref(), Some("rr1"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    etcd.put(
        &format!("{PEERS}bad-ip"),
        r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"bad-ip"},"spec":{"peerIP":"300.1.1.1","asNumber":64512}}"#,
    );
    match next(&mut w, "the invalid peerIP").await {
        WatchEvent::Invalid(rec) => {
            assert_eq!(rec.source, format!("{PEERS}bad-ip"));
            assert!(rec.to_string().contains("peerIP"), "{rec}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let rev = etcd.put(
        &format!("{PEERS}good"),
        r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"good","resourceVersion":"1"},"spec":{"nodeSelector":"has(route-reflector)","peerSelector":"!has(route-reflector)"}}"#,
    );
    match next(&mut w, "the valid peer").await {
        WatchEvent::Applied(v) => {
            assert_eq!(v.value.name(), "good");
            // The revision is etcd's mod_revision, not the resourceVersion in the JSON.
            assert_eq!(v.revision.0, u64::try_from(rev).expect("positive revision"));
            assert!(matches!(v.value, Resource::BgpPeer(_)));
        }
        other => panic!("expected Applied, got {other:?}"),
    }
}
