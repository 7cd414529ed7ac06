//! A raw TCP peer sends garbage, a bad marker, a bad length and malformed attributes: it gets the right
//! NOTIFICATION (RFC 4271 section 6) or its routes are treated as withdrawn (RFC 7606), and the BIRD clients'
//! sessions and routes are not affected.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::bird::Bird;
use common::raw::{RawPeer, msg, update};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);
const BASE: u8 = 8;

#[test]
fn raw_peer_errors_get_notifications_and_others_are_unaffected() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, BASE, 1);
    let raw_ip = Ipv4Addr::new(127, 0, BASE, 9);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    // The raw peer is a client; it listens nowhere, so it is the one that connects.
    topo.nodes
        .push(NodeDef::client("raw", raw_ip, free_port("127.0.0.1")));
    let mut specs = Vec::new();
    for n in [2u8, 3] {
        let spec = topo.add_bird_client(BASE, n, 64512, rr_ip, rr_port);
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    wait_for("bird2 has bird3's route", T, || {
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });
    let rr_addr = SocketAddr::new(rr_ip.into(), rr_port);
    let connect = || wait_for("raw peer established", T, || RawPeer::establish(raw_ip, rr_addr));

    // RFC 4271 section 6.1: a marker that is not all ones is "Connection Not Synchronized" (1/1).
    let mut p = connect();
    p.send(&[0u8; 19]);
    assert_eq!(p.notification(), Some((1, 1)), "garbage");

    let mut p = connect();
    let mut bad_marker = msg(4, &[]);
    bad_marker[3] = 0xfe;
    p.send(&bad_marker);
    assert_eq!(p.notification(), Some((1, 1)), "bad marker");

    // A length above 4096 without extended messages: "Bad Message Length" (1/2).
    let mut p = connect();
    let mut bad_len = msg(4, &[]);
    bad_len[16..18].copy_from_slice(&5000u16.to_be_bytes());
    p.send(&bad_len);
    assert_eq!(p.notification(), Some((1, 2)), "bad length");
    // A KEEPALIVE with a body is a bad length too.
    let mut p = connect();
    p.send(&msg(4, &[0]));
    assert_eq!(p.notification(), Some((1, 2)), "KEEPALIVE with a body");

    // A valid UPDATE is reflected ...
    let mut p = connect();
    p.send(&update(0));
    wait_for("bird2 has the raw peer's route", T, || {
        let r = birds[0].bgp_routes("10.9.0.0/26");
        if r.first().and_then(|r| r.attr("originator_id")) == Some(&raw_ip.to_string()) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    // ... and an UPDATE with a malformed ORIGIN is treated as a withdrawal (RFC 7606 section 7.1): the route
    // disappears, the session stays up.
    p.send(&update(7));
    wait_for("treat-as-withdraw at bird2", T, || {
        if birds[0].bgp_routes("10.9.0.0/26").is_empty() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    p.send(&msg(4, &[]));
    p.s.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let start = Instant::now();
    while let Some((t, b)) = p.next_msg() {
        assert_ne!(t, 3, "NOTIFICATION after treat-as-withdraw: {b:?}");
        if start.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    assert_eq!(rr.peer_state("raw"), "Established");
    let tw = rr
        .peer("raw")
        .and_then(|v| v["treat_as_withdraw"].as_u64())
        .unwrap_or(0);
    assert!(tw >= 1, "{:?}", rr.peer("raw"));

    // A Total Path Attribute Length that runs past the message: UPDATE Message Error / Malformed Attribute
    // List (3/1); RFC 7606 section 5.3 keeps this a session reset (the NLRI cannot be located).
    let mut bad = update(0);
    bad[21..23].copy_from_slice(&200u16.to_be_bytes());
    p.s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    p.send(&bad);
    let n = p.notification();
    assert!(matches!(n, Some((3, _))), "malformed attribute list: {n:?}");

    // The BIRD clients never noticed.
    for n in ["node2", "node3"] {
        let peer = rr.peer(n).expect("peer");
        assert_eq!(peer["state"], "Established", "{peer}");
        assert_eq!(peer["established_transitions"], 1, "{peer}");
    }
    assert!(!birds[0].bgp_routes("10.3.0.0/26").is_empty());
    assert!(!birds[1].bgp_routes("10.2.0.0/26").is_empty());
}

/// UPDATE announcing `n` /24s from 10.77.0.0.
fn update_many(n: u8) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0];
    attrs.extend_from_slice(&[0x40, 2, 0]);
    attrs.extend_from_slice(&[0x40, 3, 4, 100, 64, 0, 9]);
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    for i in 0..n {
        body.extend_from_slice(&[24, 10, 77, i]);
    }
    msg(2, &body)
}

#[test]
fn max_prefixes_closes_the_session_with_cease_1() {
    let base = 15;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let raw_ip = Ipv4Addr::new(127, 0, base, 9);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes
        .push(NodeDef::client("raw", raw_ip, free_port("127.0.0.1")));
    let rr = Rr::start("rr1", &topo.yaml(), &["--max-prefixes", "3"]);
    let rr_addr = SocketAddr::new(rr_ip.into(), rr_port);
    let mut p = wait_for("raw peer established", T, || RawPeer::establish(raw_ip, rr_addr));
    p.send(&update_many(3));
    p.send(&msg(4, &[]));
    wait_for("3 prefixes accepted", T, || {
        let n = rr
            .peer("raw")
            .and_then(|v| v["prefixes_received"].as_u64())
            .unwrap_or(0);
        if n == 3 { Ok(()) } else { Err(n.to_string()) }
    });
    p.send(&update_many(4));
    // RFC 4486 section 4: Cease, subcode 1 "Maximum Number of Prefixes Reached".
    assert_eq!(p.notification(), Some((6, 1)));
    let last = rr.peer("raw").expect("raw")["last_down"].clone();
    assert_eq!(last["reason"], "notification sent", "{last}");
    assert_eq!(
        (last["code"].as_u64(), last["subcode"].as_u64()),
        (Some(6), Some(1)),
        "{last}"
    );
    assert_eq!(last["name"], "maximum number of prefixes reached", "{last}");
    assert!(last["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{last}");
}
