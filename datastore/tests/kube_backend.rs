//! The Kubernetes backend against an in-process fake API server (`kube_support`): list, watch (ADDED,
//! MODIFIED, DELETED, BOOKMARK, ERROR 410), annotation parsing, label merging, API group selection, secrets,
//! compare-and-swap writes, outages, and the permissions actually used.
#![cfg(feature = "kubernetes")]

mod kube_support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use datastore::Error;
use datastore::kube::{
    CalicoApiGroup, KubeConfig, KubeDatastore, KubeSecrets, REQUIRED_PERMISSIONS, WRITE_PERMISSIONS,
};
use datastore::model::{AsNumber, BgpPeer, Kind, Resource};
use datastore::store::{Datastore, Revision, SyncStatus, WatchEvent, WatchStream};
use futures::StreamExt;
use kube_support::{FakeApiServer, Groups, ResType};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

async fn connect(server: &FakeApiServer) -> KubeDatastore {
    KubeDatastore::connect(&KubeConfig::with_kubeconfig(server.kubeconfig_path()))
        .await
        .expect("connect")
}

async fn next(stream: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("timed out waiting for a watch event")
        .expect("stream ended")
        .expect("watch error")
}

/// Skips events until one matches.
async fn until(stream: &mut WatchStream, what: &str, f: impl Fn(&WatchEvent) -> bool) -> WatchEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("stream ended")
            .expect("watch error");
        if f(&ev) {
            return ev;
        }
    }
}

/// Waits until every kind has an open watch (the watcher lists first, then watches).
async fn wait_for_watches(server: &FakeApiServer) {
    for plural in ["nodes", "bgppeers", "bgpconfigurations", "ippools", "bgpfilters"] {
        let deadline = tokio::time::Instant::now() + WAIT;
        while server.open_watches(plural) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no watch on {plural}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is_resync(ev: &WatchEvent) -> bool {
    matches!(ev, WatchEvent::Resync { .. })
}

fn names(ev: &WatchEvent, kind: Kind) -> BTreeSet<String> {
    match ev {
        WatchEvent::Resync { resources, .. } => resources
            .iter()
            .filter(|r| r.value.kind() == kind)
            .map(|r| r.value.name().to_owned())
            .collect(),
        other => panic!("not a resync: {other:?}"),
    }
}

fn k8s_node(name: &str, annotations: serde_json::Value, labels: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"name": name, "annotations": annotations, "labels": labels},
           "spec": {"podCIDR": "10.244.0.0/24"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.10"}]}})
}

fn rr_node(name: &str, ip: &str, cluster_id: Option<&str>) -> serde_json::Value {
    let mut ann =
        json!({"projectcalico.org/IPv4Address": format!("{ip}/24"), "projectcalico.org/ASNumber": "64512"});
    if let Some(c) = cluster_id {
        ann["projectcalico.org/RouteReflectorClusterID"] = json!(c);
    }
    k8s_node(name, ann, json!({"kubernetes.io/hostname": name}))
}

fn peer(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"name": name}, "spec": spec})
}

fn node_of(r: &Resource) -> &datastore::Node {
    match r {
        Resource::Node(n) => n,
        other => panic!("not a node: {other:?}"),
    }
}

#[tokio::test]
async fn list_parses_annotations_and_merges_labels() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(k8s_node(
        "rr-node-1",
        json!({
            "projectcalico.org/IPv4Address": "10.0.1.10/24",
            "projectcalico.org/IPv6Address": "fd00:10::10/64",
            "projectcalico.org/ASNumber": "64512",
            "projectcalico.org/RouteReflectorClusterID": "244.0.0.1",
            "projectcalico.org/labels": "{\"rack\":\"r1\",\"route-reflector\":\"false\"}",
            "node.alpha.kubernetes.io/ttl": "0"
        }),
        json!({"route-reflector": "true", "kubernetes.io/hostname": "rr-node-1"}),
    ));
    server.put_node(k8s_node(
        "worker",
        json!({"projectcalico.org/ASNumber": "not-a-number",
        "projectcalico.org/IPv4Address": "10.0.1.11/24"}),
        json!({}),
    ));
    server.put_node(k8s_node("plain", json!({}), json!({"a": "b"})));
    let ds = connect(&server).await;
    assert_eq!(ds.api_group(), CalicoApiGroup::CrdV1);

    let listing = ds.list(Kind::Node).await.expect("list nodes");
    assert!(listing.invalid.is_empty(), "{:?}", listing.invalid);
    let got: Vec<&str> = listing.resources.iter().map(|r| r.value.name()).collect();
    assert_eq!(got, ["plain", "rr-node-1", "worker"]);
    assert!(listing.revision >= listing.resources.iter().map(|r| r.revision).max().expect("some"));

    let rr = node_of(&listing.resources[1].value);
    assert_eq!(rr.ipv4(), Some("10.0.1.10".parse().expect("ip")));
    assert_eq!(rr.ipv6(), Some("fd00:10::10".parse().expect("ip")));
    assert_eq!(rr.as_number(), Some(AsNumber(64512)));
    assert_eq!(rr.cluster_id(), Some(Ipv4Addr::new(244, 0, 0, 1)));
    // Calico-only labels, overwritten by the Kubernetes labels.
    let labels: Vec<(&str, &str)> = rr
        .metadata
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("kubernetes.io/hostname", "rr-node-1"),
            ("rack", "r1"),
            ("route-reflector", "true")
        ]
    );

    // An unparsable AS annotation is ignored (as Calico does); the node stays valid.
    let worker = node_of(&listing.resources[2].value);
    assert_eq!(worker.as_number(), None);
    assert_eq!(worker.ipv4(), Some("10.0.1.11".parse().expect("ip")));
    // No BGP annotations: no BGP spec.
    assert_eq!(node_of(&listing.resources[0].value).spec.bgp, None);

    // get() agrees with list().
    let one = ds.get(Kind::Node, "rr-node-1").await.expect("get");
    assert_eq!(one, listing.resources[1]);
    assert!(matches!(
        ds.get(Kind::Node, "nope").await,
        Err(Error::NotFound { kind: Kind::Node, .. })
    ));
}

#[tokio::test]
async fn list_reads_calico_crds_and_reports_invalid_records() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_calico(
        "bgppeers",
        json!({"metadata": {"name": "peer-with-rrs",
        "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":null}"}},
        "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}}),
    );
    server.put_calico(
        "bgppeers",
        peer(
            "tor",
            json!({"peerIP": "172.19.4.87:1790", "asNumber": 64533,
        "password": {"secretKeyRef": {"name": "bgp-passwords", "key": "tor"}}}),
        ),
    );
    server.put_calico(
        "bgppeers",
        peer("broken", json!({"peerIP": "not-an-ip", "asNumber": 1})),
    );
    server.put_calico(
        "bgpconfigurations",
        json!({"metadata": {"name": "default"},
        "spec": {"asNumber": 64512, "nodeToNodeMeshEnabled": false, "listenPort": 179}}),
    );
    server.put_calico(
        "ippools",
        json!({"metadata": {"name": "pool-1"},
        "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": true}}),
    );
    let ds = connect(&server).await;

    let peers = ds.list(Kind::BgpPeer).await.expect("list");
    let got: Vec<&str> = peers.resources.iter().map(|r| r.value.name()).collect();
    assert_eq!(got, ["peer-with-rrs", "tor"]);
    assert_eq!(peers.invalid.len(), 1);
    assert_eq!(peers.invalid[0].name.as_deref(), Some("broken"));
    assert_eq!(peers.invalid[0].kind, Some(Kind::BgpPeer));
    // The Calico metadata annotation is not a Calico annotation.
    assert!(peers.resources[0].value.metadata().annotations.is_empty());
    let Resource::BgpPeer(tor) = &peers.resources[1].value else {
        panic!("not a peer")
    };
    assert_eq!(tor.spec.as_number, Some(AsNumber(64533)));
    assert_eq!(
        tor.spec
            .password
            .as_ref()
            .and_then(|p| p.secret_key_ref.as_ref())
            .map(|s| s.key.as_str()),
        Some("tor")
    );
    assert_eq!(
        ds.list(Kind::BgpConfiguration)
            .await
            .expect("list")
            .resources
            .len(),
        1
    );
    assert_eq!(ds.list(Kind::IpPool).await.expect("list").resources.len(), 1);
}

#[tokio::test]
async fn watch_maps_added_modified_deleted_and_invalid() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("rr1", "10.0.0.1", Some("244.0.0.1")));
    server.put_node(k8s_node(
        "bad",
        json!({"projectcalico.org/IPv4Address": "10.0.0.300/24"}),
        json!({}),
    ));
    server.put_calico(
        "bgppeers",
        peer("p1", json!({"peerSelector": "has(route-reflector)"})),
    );
    let ds = connect(&server).await;
    let mut w = ds.watch(None).await.expect("watch");

    let first = next(&mut w).await;
    assert_eq!(names(&first, Kind::Node), BTreeSet::from(["rr1".to_owned()]));
    assert_eq!(names(&first, Kind::BgpPeer), BTreeSet::from(["p1".to_owned()]));
    let WatchEvent::Resync { revision, .. } = &first else {
        unreachable!()
    };
    assert!(*revision > Revision(0));
    // The invalid node is absent from the resync and reported right after it.
    match next(&mut w).await {
        WatchEvent::Invalid(bad) => {
            assert_eq!(bad.name.as_deref(), Some("bad"));
            assert!(bad.error.to_string().contains("IPv4Address"), "{}", bad.error);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));

    // ADDED
    let rv = server.put_node(rr_node("client1", "10.0.0.2", None));
    match next(&mut w).await {
        WatchEvent::Applied(v) => {
            assert_eq!(v.value.name(), "client1");
            assert_eq!(v.revision, Revision(rv));
        }
        other => panic!("expected Applied, got {other:?}"),
    }
    // MODIFIED: annotating the node with a cluster id makes it a reflector.
    server.put_node(rr_node("client1", "10.0.0.2", Some("244.0.0.1")));
    match next(&mut w).await {
        WatchEvent::Applied(v) => {
            assert_eq!(node_of(&v.value).cluster_id(), Some(Ipv4Addr::new(244, 0, 0, 1)))
        }
        other => panic!("expected Applied, got {other:?}"),
    }
    // MODIFIED into something invalid: Invalid, the previous version stays with the consumer.
    server.put_node(k8s_node(
        "client1",
        json!({"projectcalico.org/RouteReflectorClusterID": "x"}),
        json!({}),
    ));
    assert!(matches!(next(&mut w).await, WatchEvent::Invalid(bad) if bad.name.as_deref() == Some("client1")));
    // DELETED (a CRD).
    server.remove(&ResType::calico(server.calico_group(), "bgppeers"), "", "p1");
    match next(&mut w).await {
        WatchEvent::Deleted { kind, name, revision } => {
            assert_eq!((kind, name.as_str()), (Kind::BgpPeer, "p1"));
            assert!(revision > Revision(rv));
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
    // Every watch asked for bookmarks.
    assert!(server.bookmark_requests() >= 4);
}

#[tokio::test]
async fn watch_relists_after_410_gone() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("rr1", "10.0.0.1", Some("244.0.0.1")));
    let ds = connect(&server).await;
    let mut w = ds.watch(None).await.expect("watch");
    assert!(is_resync(&next(&mut w).await));
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));
    assert_eq!(server.requests("list", "nodes"), 1);

    // Every open watch gets ERROR 410 Gone (reason Expired): the watcher must relist, and the relist
    // shows what changed meanwhile.
    server.put_unwatched(&ResType::nodes(), rr_node("rr2", "10.0.0.2", Some("244.0.0.1")));
    server.expire_watches();
    // (Each kind relists on its own; a kind that finishes first sends a resync with the others' held state.)
    let resync = until(&mut w, "a resync showing rr2", |e| {
        is_resync(e) && names(e, Kind::Node).contains("rr2")
    })
    .await;
    assert_eq!(
        names(&resync, Kind::Node),
        BTreeSet::from(["rr1".to_owned(), "rr2".to_owned()])
    );
    assert!(server.requests("list", "nodes") >= 2, "410 must force a relist");
    // After the relist the watch is live again.
    let rv = server.put_node(rr_node("rr3", "10.0.0.3", None));
    let ev = until(
        &mut w,
        "rr3",
        |e| matches!(e, WatchEvent::Applied(v) if v.value.name() == "rr3"),
    )
    .await;
    assert!(matches!(ev, WatchEvent::Applied(v) if v.revision == Revision(rv)));
}

#[tokio::test]
async fn bookmarks_let_a_dropped_watch_resume_without_relisting() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("rr1", "10.0.0.1", Some("244.0.0.1")));
    let ds = connect(&server).await;
    let mut w = ds.watch(None).await.expect("watch");
    assert!(is_resync(&next(&mut w).await));
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));
    wait_for_watches(&server).await;

    // Other resources move the store far ahead; a BOOKMARK carries the new resourceVersion to every watch.
    server.bump_rv(50);
    server.send_bookmarks();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // History before the bookmark is compacted and the connections drop: a watcher resuming from the
    // bookmark is fine, one resuming from its list's resourceVersion would get 410 and relist.
    server.compact();
    server.drop_watches();
    let rv = server.put_node(rr_node("rr2", "10.0.0.2", None));
    match next(&mut w).await {
        WatchEvent::Applied(v) => assert_eq!((v.value.name(), v.revision), ("rr2", Revision(rv))),
        other => panic!("expected Applied without a resync, got {other:?}"),
    }
    assert_eq!(
        server.requests("list", "nodes"),
        1,
        "resumed from the bookmark without a relist"
    );
    assert!(
        server.requests("watch", "nodes") >= 2,
        "the watch was re-established"
    );

    // Control: the same drop without a bookmark forces a relist.
    server.bump_rv(50);
    server.compact();
    server.drop_watches();
    let resync = until(&mut w, "a resync", is_resync).await;
    assert_eq!(
        names(&resync, Kind::Node),
        BTreeSet::from(["rr1".to_owned(), "rr2".to_owned()])
    );
    assert_eq!(server.requests("list", "nodes"), 2);
}

#[tokio::test]
async fn outage_reports_unavailable_then_resyncs() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("rr1", "10.0.0.1", Some("244.0.0.1")));
    let ds = connect(&server).await;
    let mut w = ds.watch(None).await.expect("watch");
    assert!(is_resync(&next(&mut w).await));
    assert_eq!(next(&mut w).await, WatchEvent::Status(SyncStatus::Synced));

    server.set_unavailable(true);
    let ev = until(&mut w, "Unavailable", |e| {
        matches!(e, WatchEvent::Status(SyncStatus::Unavailable(_)))
    })
    .await;
    assert!(matches!(ev, WatchEvent::Status(SyncStatus::Unavailable(_))));
    server.remove(&ResType::nodes(), "", "rr1");
    server.put_node(rr_node("rr2", "10.0.0.2", None));
    server.set_unavailable(false);
    let resync = until(&mut w, "a resync after the outage", is_resync).await;
    assert_eq!(names(&resync, Kind::Node), BTreeSet::from(["rr2".to_owned()]));
    until(&mut w, "Synced", |e| *e == WatchEvent::Status(SyncStatus::Synced)).await;
}

#[tokio::test]
async fn api_group_selection_v1_v3_both_and_env_override() {
    // Only v3 served: discovery picks v3, and the backend reads projectcalico.org/v3.
    let v3 = FakeApiServer::start(Groups::V3Only).await;
    v3.put_calico("bgppeers", peer("v3-peer", json!({"peerSelector": "all()"})));
    let ds = connect(&v3).await;
    assert_eq!(ds.api_group(), CalicoApiGroup::V3);
    let got = ds.list(Kind::BgpPeer).await.expect("list");
    assert_eq!(got.resources.len(), 1);
    assert!(v3.requests("list", "bgppeers") == 1);

    // Both served (aggregated API server over v1 CRDs): read the v1 CRDs.
    let both = FakeApiServer::start(Groups::Both).await;
    both.put(
        &ResType::calico("crd.projectcalico.org", "bgppeers"),
        "",
        peer("v1-peer", json!({})),
    );
    both.put(
        &ResType::calico("projectcalico.org", "bgppeers"),
        "",
        peer("v3-peer", json!({})),
    );
    let ds = connect(&both).await;
    assert_eq!(ds.api_group(), CalicoApiGroup::CrdV1);
    let got = ds.list(Kind::BgpPeer).await.expect("list");
    assert_eq!(
        got.resources.iter().map(|r| r.value.name()).collect::<Vec<_>>(),
        ["v1-peer"]
    );

    // CALICO_API_GROUP overrides discovery.
    let mut cfg = KubeConfig::from_lookup(|k| match k {
        "KUBECONFIG" => Some(both.kubeconfig_path().display().to_string()),
        "CALICO_API_GROUP" => Some("projectcalico.org/v3".into()),
        _ => None,
    });
    assert_eq!(cfg.api_group, Some(CalicoApiGroup::V3));
    cfg.watch_timeout_secs = Some(30);
    let ds = KubeDatastore::connect(&cfg).await.expect("connect");
    assert_eq!(ds.api_group(), CalicoApiGroup::V3);
    let got = ds.list(Kind::BgpPeer).await.expect("list");
    assert_eq!(
        got.resources.iter().map(|r| r.value.name()).collect::<Vec<_>>(),
        ["v3-peer"]
    );
    // Writes go to the selected group too.
    ds.create(&Resource::from(BgpPeer::new("created")))
        .await
        .expect("create");
    assert!(
        both.get(&ResType::calico("projectcalico.org", "bgppeers"), "", "created")
            .is_some()
    );
    assert!(
        both.get(
            &ResType::calico("crd.projectcalico.org", "bgppeers"),
            "",
            "created"
        )
        .is_none()
    );
}

#[tokio::test]
async fn config_from_environment_names() {
    let cfg = KubeConfig::from_lookup(|k| match k {
        "CALICO_KUBECONFIG" => Some("/etc/kube/config".into()),
        _ => None,
    });
    assert_eq!(
        cfg.kubeconfig.as_deref(),
        Some(std::path::Path::new("/etc/kube/config"))
    );
    assert_eq!(cfg.namespace, "kube-system");
    assert_eq!(cfg.api_group, None);
    let cfg = KubeConfig::from_lookup(|k| match k {
        "KUBECONFIG" => Some("/a".into()),
        "CALICO_KUBECONFIG" => Some("/b".into()),
        "NAMESPACE" => Some("calico-system".into()),
        "CALICO_API_GROUP" => Some("crd.projectcalico.org/v1".into()),
        _ => None,
    });
    assert_eq!(cfg.kubeconfig.as_deref(), Some(std::path::Path::new("/a")));
    assert_eq!(cfg.namespace, "calico-system");
    assert_eq!(cfg.api_group, Some(CalicoApiGroup::CrdV1));
    // No KUBECONFIG: in-cluster config, which fails outside a pod with a clear error.
    let none = KubeConfig::from_lookup(|_| None);
    assert_eq!(none.kubeconfig, None);
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        let err = KubeDatastore::connect(&none).await.expect_err("not in a cluster");
        assert!(err.to_string().contains("in-cluster"), "{err}");
    }
}

#[tokio::test]
async fn secrets_are_read_from_the_calico_namespace() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_secret(
        "kube-system",
        "bgp-passwords",
        &[("tor", "s3cret-Pa55"), ("other", "x")],
    );
    server.put_secret("calico-system", "bgp-passwords", &[("tor", "operator-install")]);
    let ds = connect(&server).await;
    assert_eq!(ds.namespace(), "kube-system");
    assert_eq!(
        ds.secret("bgp-passwords", "tor").await.expect("secret"),
        "s3cret-Pa55"
    );
    assert!(ds.secret("bgp-passwords", "missing-key").await.is_err());
    assert!(ds.secret("no-such-secret", "tor").await.is_err());

    let mut cfg = KubeConfig::from_lookup(|k| match k {
        "KUBECONFIG" => Some(server.kubeconfig_path().display().to_string()),
        "NAMESPACE" => Some("calico-system".into()),
        _ => None,
    });
    cfg.watch_timeout_secs = None;
    let ds = KubeDatastore::connect(&cfg).await.expect("connect");
    assert_eq!(
        ds.secret("bgp-passwords", "tor").await.expect("secret"),
        "operator-install"
    );
    assert_eq!(server.requests("get", "secrets"), 4);
}

/// calico-node's secret watcher: each Secret a BGPPeer names is watched by name, so a rotation is seen at once
/// and other Secrets of the namespace (or the same name elsewhere) cause no event.
#[tokio::test]
async fn a_password_secret_is_watched_by_name() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_secret("kube-system", "bgp-passwords", &[("tor", "one")]);
    let cfg = KubeConfig::from_lookup(|k| match k {
        "KUBECONFIG" => Some(server.kubeconfig_path().display().to_string()),
        _ => None,
    });
    let secrets = KubeSecrets::connect(&cfg).await.expect("connect");
    assert_eq!(secrets.get("bgp-passwords", "tor").await.expect("get"), "one");
    let watch = secrets.watch("bgp-passwords");
    futures::pin_mut!(watch);
    // The initial listing.
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("initial event")
        .expect("stream")
        .expect("ok");
    // Other Secrets: no event.
    server.put_secret("kube-system", "unrelated", &[("tor", "x")]);
    server.put_secret("calico-system", "bgp-passwords", &[("tor", "x")]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watch.next())
            .await
            .is_err(),
        "an unrelated Secret woke the watch"
    );
    // A rotation: an event, and the new value.
    server.put_secret("kube-system", "bgp-passwords", &[("tor", "two")]);
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("rotation event")
        .expect("stream")
        .expect("ok");
    assert_eq!(secrets.get("bgp-passwords", "tor").await.expect("get"), "two");
    let selectors = server.field_selectors();
    for verb in ["list", "watch"] {
        assert!(
            selectors.contains(&(
                verb.into(),
                "secrets".into(),
                "metadata.name=bgp-passwords".into()
            )),
            "{verb} by name: {selectors:?}"
        );
    }
    // Every verb used is granted by the reflector's role.
    for (verb, plural) in server.verbs_used() {
        if plural == "secrets" {
            assert!(
                REQUIRED_PERMISSIONS
                    .iter()
                    .any(|p| p.resource == "secrets" && p.verbs.contains(&verb.as_str())),
                "{verb} secrets not in REQUIRED_PERMISSIONS"
            );
        }
    }
}

#[tokio::test]
async fn writes_are_compare_and_swap_on_resource_version() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("n1", "10.0.0.1", None));
    let ds = connect(&server).await;

    // CRDs: create, conflicting create, CAS update, stale update, CAS delete.
    let mut p = BgpPeer::new("p1");
    p.spec.peer_selector = Some("has(route-reflector)".parse().expect("selector"));
    let r1 = ds.create(&Resource::from(p.clone())).await.expect("create");
    assert!(matches!(
        ds.create(&Resource::from(p.clone())).await,
        Err(Error::AlreadyExists { .. })
    ));
    let stored = server
        .get(&ResType::calico("crd.projectcalico.org", "bgppeers"), "", "p1")
        .expect("stored");
    assert_eq!(stored["apiVersion"], "crd.projectcalico.org/v1");
    assert_eq!(stored["spec"]["peerSelector"], "has(route-reflector)");
    assert!(stored["metadata"]["annotations"]["projectcalico.org/metadata"].is_string());

    p.spec.as_number = None;
    p.spec.node_selector = Some("all()".parse().expect("selector"));
    let r2 = ds.update(&Resource::from(p.clone()), r1).await.expect("update");
    assert!(r2 > r1);
    match ds.update(&Resource::from(p.clone()), r1).await {
        Err(Error::Conflict { expected, actual, .. }) => assert_eq!((expected, actual), (r1, Some(r2))),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        ds.update(&Resource::from(BgpPeer::new("ghost")), r1).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ds.delete(Kind::BgpPeer, "p1", Some(r1)).await,
        Err(Error::Conflict { .. })
    ));
    ds.delete(Kind::BgpPeer, "p1", Some(r2)).await.expect("delete");
    assert!(matches!(
        ds.delete(Kind::BgpPeer, "p1", None).await,
        Err(Error::NotFound { .. })
    ));

    // Nodes: no create/delete in KDD; update only touches the Calico annotations.
    let cur = ds.get(Kind::Node, "n1").await.expect("get");
    assert!(matches!(ds.create(&cur.value).await, Err(Error::Unsupported(_))));
    assert!(matches!(
        ds.delete(Kind::Node, "n1", None).await,
        Err(Error::Unsupported(_))
    ));
    let mut n = node_of(&cur.value).clone();
    n.metadata.labels.insert("route-reflector".into(), "true".into());
    n.spec.bgp.as_mut().expect("bgp").route_reflector_cluster_id = Some(Ipv4Addr::new(244, 0, 0, 7));
    let rev = ds
        .update(&Resource::Node(n.clone()), cur.revision)
        .await
        .expect("update node");
    assert!(matches!(
        ds.update(&Resource::Node(n.clone()), cur.revision).await,
        Err(Error::Conflict { actual: Some(a), .. }) if a == rev
    ));
    let k8s = server.get(&ResType::nodes(), "", "n1").expect("node");
    assert_eq!(
        k8s["metadata"]["annotations"]["projectcalico.org/RouteReflectorClusterID"],
        "244.0.0.7"
    );
    assert_eq!(
        k8s["metadata"]["annotations"]["projectcalico.org/labels"],
        "{\"route-reflector\":\"true\"}"
    );
    assert_eq!(k8s["metadata"]["labels"], json!({"kubernetes.io/hostname": "n1"}));
    assert_eq!(
        k8s["spec"]["podCIDR"], "10.244.0.0/24",
        "the rest of the node is untouched"
    );
    let back = ds.get(Kind::Node, "n1").await.expect("get");
    assert_eq!(
        node_of(&back.value).cluster_id(),
        Some(Ipv4Addr::new(244, 0, 0, 7))
    );
    assert_eq!(node_of(&back.value).metadata.labels, n.metadata.labels);
    assert_eq!(back.revision, rev);
}

/// Every request the read path makes is covered by REQUIRED_PERMISSIONS, every write by WRITE_PERMISSIONS.
#[tokio::test]
async fn the_backend_only_uses_the_declared_permissions() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    server.put_node(rr_node("n1", "10.0.0.1", None));
    server.put_secret("kube-system", "s", &[("k", "v")]);
    let ds = connect(&server).await;
    for kind in Kind::ALL {
        ds.list(kind).await.expect("list");
    }
    ds.get(Kind::Node, "n1").await.expect("get");
    for kind in [
        Kind::BgpPeer,
        Kind::BgpConfiguration,
        Kind::IpPool,
        Kind::BgpFilter,
    ] {
        assert!(matches!(
            ds.get(kind, "default").await,
            Err(Error::NotFound { .. })
        ));
    }
    ds.secret("s", "k").await.expect("secret");
    // The password watch (list + watch of one Secret by name).
    let sw = ds.secrets().watch("s");
    let secret_watch = tokio::spawn(async move {
        futures::pin_mut!(sw);
        while sw.next().await.is_some() {}
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.open_watches("secrets") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no watch on secrets");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    secret_watch.abort();
    let mut w = ds.watch(None).await.expect("watch");
    assert!(is_resync(&next(&mut w).await));
    wait_for_watches(&server).await;
    let allowed = |perms: &[datastore::kube::Permission], verb: &str, plural: &str| {
        perms
            .iter()
            .any(|p| p.resource == plural && p.verbs.contains(&verb))
    };
    let read_used = server.verbs_used();
    for (verb, plural) in &read_used {
        if verb == "discovery" {
            continue;
        }
        assert!(
            allowed(REQUIRED_PERMISSIONS, verb, plural),
            "read path used {verb} on {plural}"
        );
    }
    // And every declared read verb was exercised.
    for p in REQUIRED_PERMISSIONS {
        for v in p.verbs {
            assert!(
                read_used
                    .iter()
                    .any(|(verb, plural)| verb == v && plural == p.resource),
                "declared but unused: {v} {}",
                p.resource
            );
        }
    }
    let cur = ds.get(Kind::Node, "n1").await.expect("get");
    ds.update(&cur.value, cur.revision).await.expect("update node");
    let r = ds
        .create(&Resource::from(BgpPeer::new("p")))
        .await
        .expect("create");
    let r = ds
        .update(&Resource::from(BgpPeer::new("p")), r)
        .await
        .expect("update");
    ds.delete(Kind::BgpPeer, "p", Some(r)).await.expect("delete");
    for (verb, plural) in server.verbs_used() {
        if verb == "discovery" {
            continue;
        }
        assert!(
            allowed(REQUIRED_PERMISSIONS, &verb, &plural) || allowed(WRITE_PERMISSIONS, &verb, &plural),
            "write path used {verb} on {plural}"
        );
    }
}

#[tokio::test]
async fn large_clusters_are_listed_in_pages() {
    let server = FakeApiServer::start(Groups::V1Crds).await;
    for i in 0..1203 {
        server.put_node(k8s_node(&format!("n{i:04}"), json!({}), json!({})));
    }
    let ds = connect(&server).await;
    let listing = ds.list(Kind::Node).await.expect("list");
    assert_eq!(listing.resources.len(), 1203);
    assert_eq!(listing.resources[1202].value.name(), "n1202");
    assert_eq!(server.requests("list", "nodes"), 3, "500 per page");
    let mut w = ds.watch(None).await.expect("watch");
    let first = next(&mut w).await;
    assert_eq!(names(&first, Kind::Node).len(), 1203);
    assert_eq!(
        server.requests("list", "nodes"),
        6,
        "the watcher pages its list too"
    );
}

#[tokio::test]
async fn https_kubeconfig_builds_a_tls_client_and_an_unreachable_server_is_unavailable() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
             insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: x\n  \
             context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .expect("write");
    // Discovery fails: unavailable, not a panic.
    let err = KubeDatastore::connect(&KubeConfig::with_kubeconfig(&path))
        .await
        .expect_err("no server");
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    // With the group given, the client is built (rustls) and calls report Unavailable.
    let mut cfg = KubeConfig::with_kubeconfig(&path);
    cfg.api_group = Some(CalicoApiGroup::CrdV1);
    let ds = KubeDatastore::connect(&cfg).await.expect("client");
    assert!(matches!(ds.list(Kind::BgpPeer).await, Err(Error::Unavailable(_))));
    // And a watch reports the outage instead of ending.
    let mut w = ds.watch(None).await.expect("watch");
    assert!(matches!(
        next(&mut w).await,
        WatchEvent::Status(SyncStatus::Unavailable(_))
    ));
}
