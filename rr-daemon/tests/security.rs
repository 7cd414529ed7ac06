//! TCP-MD5 (RFC 2385) and GTSM (RFC 5082) with real BIRD peers: a BGPPeer with a password and ttlSecurity
//! makes the reflector sign and TTL-check those sessions; a peer with the wrong key never gets a session, and
//! peers without a password are unaffected.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);
const BASE: u8 = 12;

#[test]
fn md5_and_gtsm_sessions_with_bird() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, BASE, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers.clear();
    topo.peers.push((
        "secure".into(),
        "{nodeSelector: has(secure), peerSelector: route-reflector == 'true', \
          password: {secretKeyRef: {name: bgp-secrets, key: rr}}, ttlSecurity: 1}"
            .into(),
    ));
    topo.peers.push((
        "plain".into(),
        "{nodeSelector: '!has(secure)', peerSelector: route-reflector == 'true'}".into(),
    ));
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut specs = Vec::new();
    for (n, secure, password) in [
        (2u8, true, Some("s3cret-key")),
        (3, false, None),
        (4, true, Some("wrong-key")),
    ] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, BASE, n);
        spec.name = format!("bird{n}");
        let mut nb = BirdNeighbor::new("rr1", rr_ip, rr_port, 64512);
        nb.password = password.map(str::to_string);
        nb.ttl_security = secure;
        spec.neighbors.push(nb);
        let mut node = NodeDef::client(&format!("node{n}"), spec.addr, port);
        if secure {
            node = node.label("secure", "true");
        }
        topo.nodes.push(node);
        specs.push(spec);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("secrets/bgp-secrets")).expect("mkdir");
    std::fs::write(dir.path().join("secrets/bgp-secrets/rr"), "s3cret-key\n").expect("secret");
    let secrets = dir.path().join("secrets");
    let rr = Rr::start(
        "rr1",
        &topo.yaml(),
        &["--secrets-dir", secrets.to_str().expect("utf8")],
    );
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();

    birds[0].wait_established("rr1", T);
    birds[1].wait_established("rr1", T);
    let p2 = rr.peer("node2").expect("node2");
    assert_eq!(p2["md5"], true, "{p2}");
    assert_eq!(p2["ttl_security"], 1, "{p2}");
    assert_eq!(rr.peer("node3").expect("node3")["md5"], false);
    // Routes flow over the signed session.
    wait_for("bird3 has bird2's route", T, || {
        if birds[1].bgp_routes("10.2.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });
    // The wrong key never gets a session: its segments are dropped by the kernel.
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(rr.peer_state("node4"), "Established");
    assert!(!birds[2].proto_state("rr1").starts_with("Established"));
    assert!(birds[0].bgp_routes("10.4.0.0/26").is_empty());
}

/// GTSM in both directions against BIRD's `ttl security on`: BIRD passive (the reflector connects), BIRD
/// connecting to the reflector (the reflector accepts: its SYN-ACK must leave with TTL 255, and the accepted
/// socket gets the minimum TTL), and a BIRD without GTSM connecting to a reflector that requires it, which
/// never reaches Established.
#[test]
fn gtsm_both_directions_with_bird() {
    require(&["bird"]);
    const B: u8 = 13;
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers.clear();
    topo.peers.push((
        "gtsm".into(),
        "{nodeSelector: all(), peerSelector: route-reflector == 'true', ttlSecurity: 1}".into(),
    ));
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut specs = Vec::new();
    // (n, BIRD has GTSM, BIRD passive, the reflector can reach BIRD's port)
    for (n, secure, passive, reachable) in [
        (2u8, true, true, true),
        (3, true, false, false),
        (4, false, false, false),
    ] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, B, n);
        spec.name = format!("bird{B}-{n}");
        let mut nb = BirdNeighbor::new("rr1", rr_ip, rr_port, 64512);
        nb.ttl_security = secure;
        nb.passive = passive;
        spec.neighbors.push(nb);
        // An unreachable node port makes every session with this node one the reflector accepted.
        let node_port = if reachable { port } else { free_port("127.0.0.1") };
        topo.nodes
            .push(NodeDef::client(&format!("node{n}"), spec.addr, node_port));
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();

    // The reflector connected to the passive BIRD with TTL 255.
    birds[0].wait_established("rr1", T);
    rr.wait_established("node2", T);
    // BIRD with GTSM connected to the reflector: the handshake and the session work.
    birds[1].wait_established("rr1", T);
    rr.wait_established("node3", T);
    assert!(
        rr.log()
            .contains(&format!("remote={}", Ipv4Addr::new(127, 0, B, 3))),
        "node3's session was not an accepted one: {}",
        rr.log()
    );
    wait_for("bird2 has bird3's route", T, || {
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });
    // BIRD without GTSM (TTL 64) is accepted by TCP, but its segments after our OPEN are dropped.
    let n4 = format!("remote={}", Ipv4Addr::new(127, 0, B, 4));
    wait_for("node4 connected", T, || {
        if rr.log().contains(&n4) {
            Ok(())
        } else {
            Err(rr.log())
        }
    });
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        assert_ne!(rr.peer_state("node4"), "Established", "{}", rr.log());
        assert!(!birds[2].proto_state("rr1").starts_with("Established"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(birds[0].bgp_routes("10.4.0.0/26").is_empty());
}
