//! BGPConfiguration `bindMode` and `listenPort`, applied live: `None` (the default) listens on every address,
//! `NodeIP` on the node's address only; a listenPort change moves the listener without touching the sessions
//! already up.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, port_below_ephemeral_range, require, wait_for};

const T: Duration = Duration::from_secs(30);
const B: u8 = 15;

fn listening(ip: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_millis(500)).is_ok()
}

fn wait_listening(what: &str, ip: Ipv4Addr, port: u16, want: bool) {
    wait_for(what, T, || {
        if listening(ip, port) == want {
            Ok(())
        } else {
            Err(format!("{ip}:{port} listening: {}", !want))
        }
    });
}

/// The tests here listen on every address: run them one at a time (a wildcard listener conflicts with any
/// socket on its port).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn bind_mode_and_listen_port_live() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    // Another loopback address: reachable only through a listener bound to every address.
    let other_ip = Ipv4Addr::new(127, 0, B, 77);
    // The daemon listens on every address: a port no outgoing connection on this machine can be holding.
    let rr_port = port_below_ephemeral_range();
    let mut topo = Topology::calico_rr(rr_port);
    // Calico's default, not the tests' NodeIP.
    topo.bind_mode = None;
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let port2 = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(2, port2, 64512);
    spec.addr = Ipv4Addr::new(127, 0, B, 2);
    spec.name = format!("bird{B}-2");
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    topo.nodes.push(NodeDef::client("node2", spec.addr, port2));

    // Default (None): every address.
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let b2 = Bird::start(spec);
    rr.wait_established("node2", T);
    b2.wait_established("rr1", T);
    assert!(listening(rr_ip, rr_port));
    assert!(
        listening(other_ip, rr_port),
        "bindMode None must listen on every address"
    );
    let status = rr.get("/status");
    assert_eq!(status["listeners"][0], format!("0.0.0.0:{rr_port}"), "{status}");

    // NodeIP: the node's address only.
    topo.bind_mode = Some("NodeIP".into());
    rr.write_yaml(&topo.yaml());
    wait_listening("listener off the other address", other_ip, rr_port, false);
    assert!(listening(rr_ip, rr_port));
    let status = rr.get("/status");
    assert_eq!(status["listeners"][0], format!("{rr_ip}:{rr_port}"), "{status}");

    // listenPort changes: the listener moves, the established session stays.
    let transitions = |rr: &Rr| rr.peer("node2").map(|p| p["established_transitions"].clone());
    let before = transitions(&rr);
    let new_port = free_port("127.0.0.1");
    topo.listen_port = new_port;
    rr.write_yaml(&topo.yaml());
    wait_listening("listener on the new port", rr_ip, new_port, true);
    wait_listening("listener off the old port", rr_ip, rr_port, false);
    assert_eq!(rr.peer_state("node2"), "Established");
    assert_eq!(transitions(&rr), before, "the session was reset");
    assert!(b2.proto_state("rr1").starts_with("Established"));
}

/// A listener that cannot be bound at start-up (its port held on another address by someone else, which a
/// wildcard bind conflicts with) is retried until it binds: the daemon does not run without a listener.
#[test]
fn a_listener_blocked_at_start_up_binds_once_the_port_is_free() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let rr_ip = Ipv4Addr::new(127, 0, B, 31);
    // A port this test holds on 127.0.0.1, below the ephemeral range: once the test lets it go, no other
    // process's outgoing connection can take it and block the wildcard listener again (free_port()'s ports,
    // in the ephemeral range, could be, and that made this test fail while other programs made connections).
    let rr_port = port_below_ephemeral_range();
    let blocker = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, rr_port)).expect("blocker");
    let mut topo = Topology::calico_rr(rr_port);
    topo.bind_mode = None;
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    wait_for("the bind failure logged", T, || {
        let log = rr.log();
        if log.contains("cannot bind the BGP listener") {
            Ok(())
        } else {
            Err(log)
        }
    });
    assert!(
        !listening(rr_ip, rr_port),
        "the port is held: nothing can listen on every address"
    );
    drop(blocker);
    wait_listening(
        "the listener bound after the port was freed",
        rr_ip,
        rr_port,
        true,
    );
}
