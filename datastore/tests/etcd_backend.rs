//! The etcd backend against a real etcd: list, watch, compare-and-swap, compaction, outages, endpoints,
//! TLS and authentication.

mod etcd_support;

use std::time::Duration;

use datastore::Kind;
use datastore::etcd::{EtcdBackend, EtcdConfig, EtcdError, RawEvent, RawWatch};
use etcd_support::{EtcdCluster, EtcdServer, Pki, client_tls, fast, free_port, next_event};

const NODES: &str = "/calico/resources/v3/projectcalico.org/nodes/";
const PEERS: &str = "/calico/resources/v3/projectcalico.org/bgppeers/";

fn node_json(name: &str, ip: &str) -> String {
    format!(
        r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{{"bgp":{{"ipv4Address":"{ip}/24"}}}}}}"#
    )
}

/// The initial snapshot and the `Available` that follows it.
async fn snapshot(w: &mut RawWatch) -> datastore::etcd::RawSnapshot {
    let snap = match next_event(w, 10, "the initial snapshot").await {
        RawEvent::Snapshot {
            snapshot,
            relist: false,
        } => snapshot,
        other => panic!("expected the initial snapshot, got {other:?}"),
    };
    match next_event(w, 10, "Available after the snapshot").await {
        RawEvent::Available => snap,
        other => panic!("expected Available after the snapshot, got {other:?}"),
    }
}

#[tokio::test]
async fn list_get_and_compare_and_swap() {
    let etcd = EtcdServer::start();
    let rev_a = etcd.put(&format!("{NODES}a"), &node_json("a", "10.0.0.1"));
    // A key of a kind the reflector does not read is not listed.
    etcd.put(
        "/calico/resources/v3/projectcalico.org/workloadendpoints/ns/x",
        "{}",
    );
    let be = EtcdBackend::connect(etcd.config()).await.expect("connect");

    let snap = be.list_raw().await.expect("list");
    assert_eq!(snap.records.len(), 1, "{snap:?}");
    let a = &snap.records[0];
    assert_eq!((a.kind, a.name.as_str()), (Kind::Node, "a"));
    assert_eq!(a.key, format!("{NODES}a"));
    assert_eq!(a.mod_revision, rev_a);
    assert!(snap.revision >= rev_a);

    // Create: only if absent.
    let body = br#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},"spec":{}}"#;
    let rev_p = be
        .create_raw(Kind::BgpPeer, "p", body.to_vec())
        .await
        .expect("create");
    match be.create_raw(Kind::BgpPeer, "p", body.to_vec()).await {
        Err(EtcdError::AlreadyExists { revision, .. }) => assert_eq!(revision, rev_p),
        other => panic!("second create must fail with AlreadyExists, got {other:?}"),
    }
    let got = be
        .get_raw(Kind::BgpPeer, "p")
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.mod_revision, got.value.as_slice()), (rev_p, &body[..]));

    // Update: only at the expected revision.
    match be.update_raw(Kind::BgpPeer, "p", b"{}".to_vec(), rev_p - 1).await {
        Err(EtcdError::Conflict {
            expected, current, ..
        }) => assert_eq!((expected, current), (rev_p - 1, rev_p)),
        other => panic!("stale update must conflict, got {other:?}"),
    }
    let rev_p2 = be
        .update_raw(Kind::BgpPeer, "p", b"{}".to_vec(), rev_p)
        .await
        .expect("update at the current revision");
    assert!(rev_p2 > rev_p);
    match be.update_raw(Kind::BgpPeer, "nope", b"{}".to_vec(), rev_p).await {
        Err(EtcdError::NotFound { key }) => assert_eq!(key, format!("{PEERS}nope")),
        other => panic!("update of a missing key must be NotFound, got {other:?}"),
    }

    // Delete: with a stale revision refused, with the right one done, then NotFound.
    assert!(matches!(
        be.delete_raw(Kind::BgpPeer, "p", Some(rev_p)).await,
        Err(EtcdError::Conflict { .. })
    ));
    let rev_del = be
        .delete_raw(Kind::BgpPeer, "p", Some(rev_p2))
        .await
        .expect("delete");
    assert!(rev_del > rev_p2);
    assert!(matches!(
        be.delete_raw(Kind::BgpPeer, "p", None).await,
        Err(EtcdError::NotFound { .. })
    ));
    assert_eq!(be.get_raw(Kind::BgpPeer, "p").await.expect("get"), None);
    // Unconditional delete.
    be.delete_raw(Kind::Node, "a", None).await.expect("delete a");
    assert!(be.list_raw().await.expect("list").records.is_empty());
    // Names that cannot be keys.
    assert!(matches!(
        be.create_raw(Kind::Node, "x/y", b"{}".to_vec()).await,
        Err(EtcdError::InvalidName(_))
    ));
}

#[tokio::test]
async fn list_pages_through_many_keys_at_one_revision() {
    let etcd = EtcdServer::start();
    let mut cfg = etcd.config();
    cfg.page_size = 7;
    let be = EtcdBackend::connect(cfg).await.expect("connect");
    for i in 0..40 {
        be.create_raw(Kind::Node, &format!("n{i:02}"), b"{}".to_vec())
            .await
            .expect("create");
    }
    for i in 0..9 {
        be.create_raw(Kind::IpPool, &format!("pool{i}"), b"{}".to_vec())
            .await
            .expect("create");
    }
    let snap = be.list_raw().await.expect("list");
    let names: Vec<String> = snap
        .records
        .iter()
        .filter(|r| r.kind == Kind::Node)
        .map(|r| r.name.clone())
        .collect();
    let want: Vec<String> = (0..40).map(|i| format!("n{i:02}")).collect();
    assert_eq!(names, want);
    assert_eq!(snap.records.len(), 49);
    assert!(snap.records.iter().all(|r| r.mod_revision <= snap.revision));
}

#[tokio::test]
async fn watch_reports_snapshot_then_every_change_once() {
    let etcd = EtcdServer::start();
    etcd.put(&format!("{NODES}a"), &node_json("a", "10.0.0.1"));
    let be = EtcdBackend::connect(etcd.config()).await.expect("connect");
    let mut w = be.watch_raw();
    let snap = snapshot(&mut w).await;
    assert_eq!(snap.records.len(), 1);

    let rev_b = etcd.put(&format!("{NODES}b"), &node_json("b", "10.0.0.2"));
    match next_event(&mut w, 5, "put b").await {
        RawEvent::Put(r) => {
            assert_eq!(
                (r.kind, r.name.as_str(), r.mod_revision),
                (Kind::Node, "b", rev_b)
            );
            assert_eq!(r.value, node_json("b", "10.0.0.2").into_bytes());
        }
        other => panic!("expected put b, got {other:?}"),
    }
    let rev_del = etcd.del_on(etcd.port(), &format!("{NODES}a"));
    match next_event(&mut w, 5, "delete a").await {
        RawEvent::Deleted {
            kind, name, revision, ..
        } => assert_eq!((kind, name.as_str(), revision), (Kind::Node, "a", rev_del)),
        other => panic!("expected delete a, got {other:?}"),
    }
    // One revision, several events: a range delete of three keys.
    for n in ["x1", "x2", "x3"] {
        etcd.put(&format!("{NODES}{n}"), "{}");
    }
    for _ in 0..3 {
        assert!(matches!(next_event(&mut w, 5, "puts x*").await, RawEvent::Put(_)));
    }
    let out = etcd.ctl_ok(&["del", "-w", "json", "--prefix", &format!("{NODES}x")]);
    assert!(out.contains("\"deleted\":3"), "{out}");
    let mut gone = Vec::new();
    for _ in 0..3 {
        match next_event(&mut w, 5, "the range delete").await {
            RawEvent::Deleted { name, revision, .. } => gone.push((name, revision)),
            other => panic!("expected Deleted, got {other:?}"),
        }
    }
    let rev = gone[0].1;
    assert_eq!(
        gone,
        vec![
            ("x1".to_owned(), rev),
            ("x2".to_owned(), rev),
            ("x3".to_owned(), rev)
        ]
    );
    // A nested key under a watched kind is reported, not fatal.
    etcd.put(&format!("{PEERS}ns/odd"), "{}");
    match next_event(&mut w, 5, "the invalid key").await {
        RawEvent::InvalidKey(bad) => assert_eq!(bad.key, format!("{PEERS}ns/odd")),
        other => panic!("expected an invalid key, got {other:?}"),
    }
    let rev_c = etcd.put(&format!("{PEERS}c"), "{}");
    match next_event(&mut w, 5, "put c").await {
        RawEvent::Put(r) => assert_eq!((r.kind, r.mod_revision), (Kind::BgpPeer, rev_c)),
        other => panic!("expected put c, got {other:?}"),
    }
    // Other kinds are not watched.
    etcd.put("/calico/resources/v3/projectcalico.org/profiles/x", "{}");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), w.next())
            .await
            .is_err(),
        "no event for an unwatched kind"
    );
}

/// Writes keep flowing while the store is compacted: a synced watch loses nothing and repeats nothing.
#[tokio::test]
async fn watch_continuity_across_forced_compaction() {
    let etcd = EtcdServer::start();
    let be = EtcdBackend::connect(etcd.config()).await.expect("connect");
    let mut w = be.watch_raw();
    snapshot(&mut w).await;

    let writer = be.clone();
    let compactor = etcd.endpoint();
    let writes = tokio::spawn(async move {
        let mut revs = Vec::new();
        for i in 0..60 {
            let rev = writer
                .create_raw(Kind::Node, &format!("n{i}"), b"{}".to_vec())
                .await
                .expect("create");
            revs.push(rev);
            if i == 30 {
                let mut c = etcd_client::Client::connect([compactor.as_str()], None)
                    .await
                    .expect("compaction client");
                c.compact(rev, Some(etcd_client::CompactionOptions::new().with_physical()))
                    .await
                    .expect("compact");
            }
        }
        revs
    });
    let mut seen = Vec::new();
    while seen.len() < 60 {
        match next_event(&mut w, 10, "the 60 writes").await {
            RawEvent::Put(r) => seen.push(r.mod_revision),
            // A watcher that is behind when the compaction lands is canceled by etcd: the backend
            // must then relist. The relist must carry exactly the writes not yet seen (no gap), and
            // the watch must continue after it without repeating them (no duplicate).
            RawEvent::Snapshot {
                snapshot,
                relist: true,
            } => {
                let last = seen.last().copied().unwrap_or(0);
                let mut fresh: Vec<i64> = snapshot
                    .records
                    .iter()
                    .map(|r| r.mod_revision)
                    .filter(|&m| m > last)
                    .collect();
                fresh.sort_unstable();
                // `seen == revs` below checks that nothing is missing or repeated.
                seen.extend(fresh);
            }
            // Every Snapshot is followed by Available; on a loaded machine a slow request may also
            // report an outage. Status carries no data: the data checks above and below still hold.
            RawEvent::Available | RawEvent::Unavailable { .. } => {}
            other => panic!("unexpected {other:?} during compaction"),
        }
    }
    let revs = writes.await.expect("writer task");
    assert_eq!(seen, revs, "every write exactly once, in order");
    // Compacted via etcdctl as well, then more writes: still continuous.
    let now = etcd.revision_on(etcd.port());
    etcd.ctl_ok(&["compact", &now.to_string()]);
    let rev = etcd.put(&format!("{NODES}after"), "{}");
    loop {
        match next_event(&mut w, 5, "the write after etcdctl compact").await {
            RawEvent::Put(r) => {
                assert_eq!(r.mod_revision, rev);
                break;
            }
            // The etcdctl compaction may also cancel the watch (the watcher can be behind when it
            // lands): the relist must then hold the write, at its revision.
            RawEvent::Snapshot {
                snapshot,
                relist: true,
            } => {
                let after = snapshot.records.iter().find(|r| r.name == "after");
                if let Some(r) = after {
                    assert_eq!(r.mod_revision, rev, "the relisted write keeps its revision");
                    break;
                }
                // A relist from before the write: the write still has to follow as an event.
            }
            RawEvent::Available | RawEvent::Unavailable { .. } => {}
            other => panic!("expected the write after compaction, got {other:?}"),
        }
    }
}

/// etcd comes back with history compacted past the watch position: the backend relists and reports a
/// resync with the state as it is now (including changes made while it was away).
#[tokio::test]
async fn watch_behind_compaction_relists() {
    let mut etcd = EtcdServer::start();
    etcd.put(&format!("{NODES}keep"), "{}");
    etcd.put(&format!("{NODES}gone"), "{}");
    let be = EtcdBackend::connect(etcd.config()).await.expect("connect");
    let mut w = be.watch_raw();
    assert_eq!(snapshot(&mut w).await.records.len(), 2);

    // Out of the backend's reach: change things and compact the history it has not seen.
    let other = etcd.restart_elsewhere();
    match next_event(&mut w, 10, "the outage").await {
        RawEvent::Unavailable { .. } => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    etcd.del_on(other, &format!("{NODES}gone"));
    let rev_new = etcd.put_on(other, &format!("{NODES}new"), "{}");
    let rev_peer = etcd.put_on(other, &format!("{PEERS}p"), "{}");
    etcd.ctl_ok_on(other, &["compact", &rev_peer.to_string()]);
    etcd.restart();

    let snap = loop {
        match next_event(&mut w, 15, "the relist").await {
            RawEvent::Snapshot {
                snapshot,
                relist: true,
            } => break snapshot,
            RawEvent::Unavailable { .. } => {}
            other => panic!("expected a relist, got {other:?}"),
        }
    };
    let mut names: Vec<(Kind, String, i64)> = snap
        .records
        .iter()
        .map(|r| (r.kind, r.name.clone(), r.mod_revision))
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!((names[0].0, names[0].1.as_str()), (Kind::Node, "keep"));
    assert_eq!(names[1], (Kind::Node, "new".to_owned(), rev_new));
    assert_eq!(names[2], (Kind::BgpPeer, "p".to_owned(), rev_peer));
    assert!(snap.revision >= rev_peer);
    match next_event(&mut w, 5, "Available").await {
        RawEvent::Available => {}
        other => panic!("expected Available, got {other:?}"),
    }
    let rev = etcd.put(&format!("{NODES}later"), "{}");
    match next_event(&mut w, 5, "a write after the relist").await {
        RawEvent::Put(r) => assert_eq!(r.mod_revision, rev),
        other => panic!("expected the later write, got {other:?}"),
    }
}

/// etcd killed and restarted on the same data directory and port: the watch reports the outage once,
/// resumes where it stopped (no new snapshot, nothing repeated) and sees later writes.
#[tokio::test]
async fn reconnect_after_etcd_restart() {
    let mut etcd = EtcdServer::start();
    let be = EtcdBackend::connect(etcd.config()).await.expect("connect");
    let mut w = be.watch_raw();
    snapshot(&mut w).await;
    let rev1 = etcd.put(&format!("{NODES}one"), "{}");
    match next_event(&mut w, 5, "put one").await {
        RawEvent::Put(r) => assert_eq!(r.mod_revision, rev1),
        other => panic!("expected put one, got {other:?}"),
    }

    etcd.stop();
    match next_event(&mut w, 10, "the outage").await {
        RawEvent::Unavailable { error } => assert!(error.contains("127.0.0.1"), "{error}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Writes fail cleanly while it is down.
    match be.create_raw(Kind::Node, "x", b"{}".to_vec()).await {
        Err(e) => assert!(e.is_transient(), "{e}"),
        Ok(_) => panic!("a write cannot succeed with etcd down"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    etcd.restart();
    match next_event(&mut w, 15, "the recovery").await {
        RawEvent::Available => {}
        other => panic!("expected Available, got {other:?}"),
    }
    let rev2 = etcd.put(&format!("{NODES}two"), "{}");
    match next_event(&mut w, 5, "put two").await {
        RawEvent::Put(r) => assert_eq!((r.name.as_str(), r.mod_revision), ("two", rev2)),
        other => panic!("expected put two, got {other:?}"),
    }
    // The backend's own writes work again too.
    be.create_raw(Kind::Node, "three", b"{}".to_vec())
        .await
        .expect("write after recovery");
}

/// `ETCD_ENDPOINTS` with a dead endpoint first: requests and the watch move on to the live one.
#[tokio::test]
async fn dead_endpoint_is_skipped() {
    let etcd = EtcdServer::start();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cfg =
        EtcdConfig::from_lookup(|k| (k == "ETCD_ENDPOINTS").then(|| format!("{dead},{}", etcd.endpoint())))
            .expect("endpoints");
    let be = EtcdBackend::connect(fast(cfg))
        .await
        .expect("connect via the second endpoint");
    be.create_raw(Kind::Node, "n", b"{}".to_vec())
        .await
        .expect("create");
    let mut w = be.watch_raw();
    loop {
        match next_event(&mut w, 10, "the snapshot").await {
            RawEvent::Snapshot { snapshot, .. } => {
                assert_eq!(snapshot.records.len(), 1);
                break;
            }
            RawEvent::Unavailable { error } => assert!(error.contains(&dead), "{error}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(next_event(&mut w, 5, "Available").await, RawEvent::Available);
    let rev = etcd.put(&format!("{NODES}m"), "{}");
    match next_event(&mut w, 5, "a later write").await {
        RawEvent::Put(r) => assert_eq!(r.mod_revision, rev),
        other => panic!("expected the later write, got {other:?}"),
    }
}

/// A three-member cluster, every member in `ETCD_ENDPOINTS`: the member in use dies; the watch moves to
/// another member and resumes where it stopped, and writes go on through the next endpoint.
#[tokio::test]
async fn cluster_member_failure_moves_to_another_endpoint() {
    let mut cluster = EtcdCluster::start(3);
    let cfg = fast(EtcdConfig::new(cluster.endpoints()));
    let be = EtcdBackend::connect(cfg).await.expect("connect");
    let mut w = be.watch_raw();
    snapshot(&mut w).await;
    let r1 = be
        .create_raw(Kind::Node, "before", b"{}".to_vec())
        .await
        .expect("create");
    match next_event(&mut w, 5, "put before").await {
        RawEvent::Put(r) => assert_eq!(r.mod_revision, r1),
        other => panic!("expected put before, got {other:?}"),
    }

    // Endpoints are used in order: member 0 serves both the watch and the writes.
    cluster.members[0].stop();
    let dead = cluster.members[0].endpoint();
    match next_event(&mut w, 10, "the lost member").await {
        RawEvent::Unavailable { error } => assert!(error.contains(&dead), "{error}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match next_event(&mut w, 20, "the watch on another member").await {
        RawEvent::Available => {}
        other => panic!("expected Available, got {other:?}"),
    }
    let mut r2 = None;
    for _ in 0..20 {
        // The first attempts may meet a leader election.
        match be.create_raw(Kind::Node, "after", b"{}".to_vec()).await {
            Ok(rev) => {
                r2 = Some(rev);
                break;
            }
            Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("write after failover: {e}"),
        }
    }
    let r2 = r2.expect("a write through the surviving members");
    match next_event(&mut w, 10, "put after").await {
        RawEvent::Put(r) => assert_eq!((r.name.as_str(), r.mod_revision), ("after", r2)),
        other => panic!("expected put after, got {other:?}"),
    }
    let r3 = cluster.members[2].put(&format!("{NODES}via-m2"), "{}");
    match next_event(&mut w, 10, "a write on member 2").await {
        RawEvent::Put(r) => assert_eq!(r.mod_revision, r3),
        other => panic!("expected the write on member 2, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let pki = Pki::new();
    let server = pki.issue("server");
    let client = pki.issue("client");
    let etcd = EtcdServer::start_tls(server, client.clone());
    assert!(etcd.endpoint().starts_with("https://"));

    let mut cfg = etcd.config();
    cfg.tls = client_tls(&client);
    let be = EtcdBackend::connect(cfg)
        .await
        .expect("TLS connect with the right CA");
    let rev = be
        .create_raw(Kind::Node, "tls", b"{}".to_vec())
        .await
        .expect("create over TLS");
    let mut w = be.watch_raw();
    let snap = snapshot(&mut w).await;
    assert_eq!(snap.records[0].mod_revision, rev);

    // A CA that did not sign the server certificate.
    let other = Pki::new();
    let mut cfg = etcd.config();
    cfg.tls = client_tls(&client);
    cfg.tls.ca_file = Some(other.path("ca.pem"));
    match EtcdBackend::connect(cfg).await {
        Err(EtcdError::Tls { endpoint, reason }) => {
            eprintln!("wrong CA refused: {reason}");
            assert_eq!(endpoint, etcd.endpoint());
            assert!(
                reason.to_ascii_lowercase().contains("certificate"),
                "the error must say the certificate is the problem: {reason}"
            );
        }
        other => panic!("a wrong CA must be refused with a TLS error, got {other:?}"),
    }

    // No client certificate: etcd (--client-cert-auth) refuses the handshake.
    let mut cfg = etcd.config();
    cfg.tls.ca_file = Some(client.ca.clone());
    match EtcdBackend::connect(cfg).await {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(_) => panic!("etcd requires a client certificate"),
    }

    // A dead https endpoint is an outage, not a TLS problem.
    let mut cfg = fast(EtcdConfig::new([format!("https://127.0.0.1:{}", free_port())]));
    cfg.tls = client_tls(&client);
    match EtcdBackend::connect(cfg).await {
        Err(e @ EtcdError::Unavailable { .. }) => assert!(e.is_transient()),
        other => panic!("a dead https endpoint must be Unavailable, got {other:?}"),
    }

    // Plain http against the TLS port fails too.
    let plain = EtcdConfig::new([etcd.endpoint().replace("https://", "http://")]);
    assert!(EtcdBackend::connect(fast(plain)).await.is_err());
}

#[tokio::test]
async fn username_and_password() {
    let etcd = EtcdServer::start();
    etcd.ctl_ok(&["user", "add", "root:rootpw"]);
    etcd.ctl_ok(&["auth", "enable"]);

    let mut cfg = etcd.config();
    cfg.username = Some("root".into());
    cfg.password = Some("rootpw".into());
    let be = EtcdBackend::connect(cfg).await.expect("connect with credentials");
    be.create_raw(Kind::Node, "n", b"{}".to_vec())
        .await
        .expect("authenticated write");
    let mut w = be.watch_raw();
    assert_eq!(snapshot(&mut w).await.records.len(), 1);

    let mut cfg = etcd.config();
    cfg.username = Some("root".into());
    cfg.password = Some("wrong".into());
    match EtcdBackend::connect(cfg).await {
        Err(EtcdError::Rejected(msg)) => assert!(msg.contains("authentication"), "{msg}"),
        other => panic!("a wrong password must be rejected, got {other:?}"),
    }
    // Without credentials, reads are refused.
    assert!(matches!(
        EtcdBackend::connect(etcd.config()).await,
        Err(EtcdError::Rejected(_))
    ));
}
