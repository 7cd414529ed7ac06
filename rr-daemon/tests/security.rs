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
