//! Datastore edits while running (file backend): adding a node brings its session up, removing one closes it
//! with Cease "Peer De-configured", changing a cluster id changes the reflection without resetting any session;
//! the other sessions are not touched, and each change is followed within one second.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);

fn client(base: u8, n: u8, rr_ip: Ipv4Addr, rr_port: u16) -> (NodeDef, BirdSpec) {
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(n, port, 64512);
    spec.addr = Ipv4Addr::new(127, 0, base, n);
    spec.name = format!("bird{base}-{n}");
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    (NodeDef::client(&format!("node{n}"), spec.addr, port), spec)
}

fn transitions(rr: &Rr, name: &str) -> u64 {
    rr.peer(name)
        .and_then(|p| p["established_transitions"].as_u64())
        .unwrap_or(0)
}

#[test]
fn add_remove_node_and_change_cluster_id_while_running() {
    require(&["bird"]);
    let base = 6;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let (n2, s2) = client(base, 2, rr_ip, rr_port);
    let (n3, s3) = client(base, 3, rr_ip, rr_port);
    topo.nodes.push(n2);
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let b2 = Bird::start(s2);
    // BIRD 3 is configured for the reflector, but the datastore does not know node3 yet: its connections are
    // refused.
    let b3 = Bird::start(s3);
    b2.wait_established("rr1", T);
    rr.wait_established("node2", T);
    assert!(rr.peer("node3").is_none());
    let base_transitions = transitions(&rr, "node2");
    assert_eq!(base_transitions, 1);

    // Add node3: the reflector connects to it at once (BIRD would only retry after 5 s).
    topo.nodes.push(n3);
    let t0 = Instant::now();
    rr.write_yaml(&topo.yaml());
    wait_for("node3 configured", Duration::from_secs(5), || {
        rr.peer("node3").map(|_| ()).ok_or_else(String::new)
    });
    let configured = t0.elapsed();
    rr.wait_established("node3", T);
    let established = t0.elapsed();
    eprintln!("add node: configured after {configured:?}, established after {established:?}");
    assert!(
        configured < Duration::from_secs(1),
        "node3 configured after {configured:?}"
    );
    wait_for("bird2 has node3's route", T, || {
        if b2.bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });

    // Remove node3: Cease / Peer De-configured, its routes withdrawn, node2 untouched.
    topo.nodes.retain(|n| n.name != "node3");
    let t0 = Instant::now();
    rr.write_yaml(&topo.yaml());
    wait_for("node3 removed", Duration::from_secs(5), || {
        if rr.peer("node3").is_none() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    let removed = t0.elapsed();
    eprintln!("remove node: removed after {removed:?}");
    assert!(
        removed < Duration::from_secs(1),
        "node3 removed after {removed:?}"
    );
    wait_for("bird3 got Cease / Peer De-configured", T, || {
        let p = b3.birdc("show protocols all rr1");
        if p.contains("Peer de-configured") || p.contains("Peer deconfigured") {
            Ok(())
        } else {
            Err(p)
        }
    });
    wait_for("node3's route withdrawn at bird2", T, || {
        if b2.bgp_routes("10.3.0.0/26").is_empty() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    assert_eq!(
        transitions(&rr, "node2"),
        base_transitions,
        "node2's session was reset"
    );

    // Change the reflector's cluster id: the reflected routes now carry the new one.
    topo.nodes.push(client(base, 3, rr_ip, rr_port).0);
    let mut b3 = b3;
    b3.kill();
    let mut s3 = b3.spec.clone();
    s3.port = topo
        .nodes
        .iter()
        .find(|n| n.name == "node3")
        .and_then(|n| n.listen_port)
        .expect("port");
    let b3 = Bird::start(s3);
    rr.write_yaml(&topo.yaml());
    rr.wait_established("node3", T);
    wait_for("bird2 has node3's route with cluster 244.0.0.1", T, || {
        let r = b2.bgp_routes("10.3.0.0/26");
        if r.first().and_then(|r| r.attr("cluster_list")) == Some("244.0.0.1") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    let before_cluster_change = transitions(&rr, "node2");
    for n in &mut topo.nodes {
        if n.name == "rr1" {
            n.cluster_id = Some("244.0.0.9".parse().expect("ip"));
        }
    }
    let t0 = Instant::now();
    rr.write_yaml(&topo.yaml());
    wait_for("cluster id 244.0.0.9 in force", Duration::from_secs(5), || {
        let s = rr.get("/status");
        if s["cluster_id"] == "244.0.0.9" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    let changed = t0.elapsed();
    eprintln!("cluster id change: in force after {changed:?}");
    assert!(
        changed < Duration::from_secs(1),
        "cluster id followed after {changed:?}"
    );
    wait_for("bird2 sees the new cluster id", T, || {
        let r = b2.bgp_routes("10.3.0.0/26");
        if r.first().and_then(|r| r.attr("cluster_list")) == Some("244.0.0.9") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    // A cluster id is no part of the OPEN: the engine changes it in place, no session restarts.
    assert_eq!(
        transitions(&rr, "node2"),
        before_cluster_change,
        "node2's session was reset by the cluster id change"
    );
    assert_eq!(b2.proto_state("rr1"), "Established");
    drop(b3);
}

#[test]
fn connection_from_unknown_address_is_rejected() {
    require(&["bird"]);
    let base = 7;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    // A BIRD the datastore knows nothing about.
    let (_, s) = client(base, 9, rr_ip, rr_port);
    let b = Bird::start(s);
    wait_for("BIRD gets Cease / Connection Rejected", T, || {
        let p = b.birdc("show protocols all rr1");
        if p.contains("Connection rejected") {
            Ok(())
        } else {
            Err(p)
        }
    });
    assert!(rr.log().contains("rejected"), "{}", rr.log());
    let (_, m) = rr.metrics_get("/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("calico_rr_connections_rejected_total") && !l.ends_with(" 0")),
        "{m}"
    );
}

#[test]
fn broken_datastore_edit_keeps_every_session() {
    require(&["bird"]);
    let base = 14;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let (n2, s2) = client(base, 2, rr_ip, rr_port);
    let (n3, s3) = client(base, 3, rr_ip, rr_port);
    topo.nodes.push(n2);
    topo.nodes.push(n3);
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let (b2, _b3) = (Bird::start(s2), Bird::start(s3));
    rr.wait_established("node2", T);
    rr.wait_established("node3", T);
    wait_for("bird2 has node3's route", T, || {
        if b2.bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });

    // A YAML syntax error: the last good state stays in force, no session moves.
    rr.write_yaml("apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node2\nspec: [[[\n");
    std::thread::sleep(Duration::from_secs(2));
    // A document with a bad field for node3: node3 keeps its last good version.
    let broken = topo
        .yaml()
        .replace("ipv4Address: 127.0.14.3/32", "ipv4Address: not-an-address");
    assert_ne!(broken, topo.yaml());
    rr.write_yaml(&broken);
    std::thread::sleep(Duration::from_secs(2));
    for n in ["node2", "node3"] {
        let p = rr.peer(n).expect("peer kept");
        assert_eq!(p["state"], "Established", "{p}");
        assert_eq!(p["established_transitions"], 1, "{p}");
    }
    assert!(!b2.bgp_routes("10.3.0.0/26").is_empty());
    // Repaired: still nothing moves.
    rr.write_yaml(&topo.yaml());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(transitions(&rr, "node3"), 1);
}

#[test]
fn control_api_reset_and_refresh() {
    require(&["bird"]);
    let base = 16;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let (n2, s2) = client(base, 2, rr_ip, rr_port);
    topo.nodes.push(n2);
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let _b2 = Bird::start(s2);
    rr.wait_established("node2", T);

    let (code, v) = rr.post("/peers/node2/refresh");
    assert_eq!(code, 200, "{v}");
    let (code, v) = rr.post("/peers/nobody/reset");
    assert_eq!(code, 400, "{v}");

    let (code, v) = rr.post("/peers/node2/reset");
    assert_eq!(code, 200, "{v}");
    // RFC 4486 Cease / Administrative Reset (6/4) with the RFC 9003 message; the session comes back.
    wait_for("node2 re-established", T, || {
        let t = transitions(&rr, "node2");
        if t == 2 && rr.peer_state("node2") == "Established" {
            Ok(())
        } else {
            Err(format!("{t} {}", rr.log()))
        }
    });
    let last = rr.peer("node2").expect("node2")["last_down"].clone();
    assert_eq!(last["reason"], "notification sent", "{last}");
    assert_eq!(
        (last["code"].as_u64(), last["subcode"].as_u64()),
        (Some(6), Some(4)),
        "{last}"
    );
    assert_eq!(last["name"], "administrative reset", "{last}");
    assert!(last["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{last}");
}
